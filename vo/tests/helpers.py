"""Shared by the VO tests: strict VOTable parsing and frames at known places."""

import io
import warnings

from astropy.io import votable
from astropy.io.votable.exceptions import VOWarning


def parse_strict(content: bytes):
    """The document parsed by astropy with every warning an error."""
    return votable.parse(io.BytesIO(content), verify="exception")


def parse_scs(content: bytes):
    """A cone-search document: strict apart from W06, which SCS 1.03's UCD1 values (ID_MAIN, POS_EQ_RA_MAIN,
    POS_EQ_DEC_MAIN) always raise."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", VOWarning)
        document = votable.parse(io.BytesIO(content), verify="warn")
    others = [str(w.message) for w in caught if issubclass(w.category, VOWarning) and "W06" not in str(w.message)]
    assert not others, others
    return document


def status(document) -> tuple[str, str]:
    """(QUERY_STATUS value, its text) of the results resource."""
    resource = next(r for r in document.resources if r.type == "results")
    found = next(i for i in resource.infos if i.name == "QUERY_STATUS")
    return found.value, found.content or ""


def rows(document) -> list[dict]:
    table = document.get_first_table().to_table()
    return [dict(zip(table.colnames, row, strict=True)) for row in table]


def column(document, name: str) -> list:
    table = document.get_first_table().to_table()
    return list(table[name])
