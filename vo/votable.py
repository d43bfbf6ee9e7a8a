"""A small VOTable 1.4 writer: result tables written row by row as TABLEDATA (escaped once, no object tree), error
documents, and the service descriptors (`RESOURCE type="meta" utype="adhoc:service"`) that tell clients how to
call this service again and where each row's DataLink document is."""

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from vo.obscore import Column

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
)
FOOTER = "</VOTABLE>\n"
# XML 1.0 cannot carry control characters other than tab, newline and return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
ROWS_PER_CHUNK = 200


def escape(value: Any) -> str:
    return _CONTROL.sub("", str(value)).translate(_ESCAPES)


def cell(value: Any) -> str:
    """A TABLEDATA cell; None is the empty cell (null)."""
    if value is None:
        return "<TD></TD>"
    if isinstance(value, float):
        return "<TD></TD>" if math.isnan(value) else f"<TD>{value!r}</TD>"
    if isinstance(value, bool):
        return f"<TD>{'T' if value else 'F'}</TD>"
    if isinstance(value, int):
        return f"<TD>{value}</TD>"
    return f"<TD>{escape(value)}</TD>"


def field_element(column: Column, *, ucd: str | None = None) -> str:
    attributes = [f'name="{column.name}"', f'datatype="{column.datatype}"']
    if column.id:
        attributes.insert(0, f'ID="{column.id}"')
    if column.arraysize:
        attributes.append(f'arraysize="{column.arraysize}"')
    if column.xtype:
        attributes.append(f'xtype="{column.xtype}"')
    if column.unit:
        attributes.append(f'unit="{column.unit}"')
    attributes.append(f'ucd="{escape(ucd or column.ucd)}"')
    if column.utype:
        attributes.append(f'utype="{column.utype}"')
    if column.ref:
        attributes.append(f'ref="{column.ref}"')
    return f"   <FIELD {' '.join(attributes)}><DESCRIPTION>{escape(column.description)}</DESCRIPTION></FIELD>\n"


def info(name: str, value: str, text: str = "", indent: str = "  ") -> str:
    body = f">{escape(text)}</INFO>" if text else "/>"
    return f'{indent}<INFO name="{escape(name)}" value="{escape(value)}"{body}\n'


@dataclass(frozen=True)
class Param:
    """A PARAM of a service descriptor (an input parameter when in its `inputParams` group)."""

    name: str
    datatype: str = "char"
    description: str = ""
    value: str = ""
    unit: str = ""
    ucd: str = ""
    xtype: str = ""
    arraysize: str = "*"
    ref: str = ""
    options: tuple[str, ...] = ()

    def xml(self, indent: str = "   ") -> str:
        attributes = [f'name="{self.name}"', f'datatype="{self.datatype}"']
        if self.arraysize:
            attributes.append(f'arraysize="{self.arraysize}"')
        for attribute in ("xtype", "unit", "ucd", "ref"):
            if getattr(self, attribute):
                attributes.append(f'{attribute}="{escape(getattr(self, attribute))}"')
        attributes.append(f'value="{escape(self.value)}"')
        inner = f"<DESCRIPTION>{escape(self.description)}</DESCRIPTION>" if self.description else ""
        if self.options:
            inner += "<VALUES>" + "".join(f'<OPTION value="{escape(o)}"/>' for o in self.options) + "</VALUES>"
        return (
            f"{indent}<PARAM {' '.join(attributes)}>{inner}</PARAM>\n"
            if inner
            else f"{indent}<PARAM {' '.join(attributes)}/>\n"
        )


@dataclass(frozen=True)
class ServiceDescriptor:
    """`RESOURCE type="meta" utype="adhoc:service"`: how to call a service (SIA 2.0 §3.1.2, DataLink §4)."""

    name: str
    standard_id: str
    access_url: str
    inputs: tuple[Param, ...] = field(default_factory=tuple)

    def xml(self) -> str:
        parts = [
            f' <RESOURCE type="meta" utype="adhoc:service" name="{escape(self.name)}">\n',
            Param("standardID", value=self.standard_id).xml("  "),
            Param("accessURL", value=self.access_url).xml("  "),
            '  <GROUP name="inputParams">\n',
            *(param.xml() for param in self.inputs),
            "  </GROUP>\n",
            " </RESOURCE>\n",
        ]
        return "".join(parts)


def table(
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    status: str,
    infos: Sequence[tuple[str, str]] = (),
    descriptors: Sequence[ServiceDescriptor] = (),
    ucds: dict[str, str] | None = None,
    coosys: bool = True,
) -> Iterator[str]:
    """The document, in chunks: `QUERY_STATUS` first, the FIELDs, the rows (each a sequence in column order), then
    the service descriptors."""
    head = [HEADER, ' <RESOURCE type="results">\n', info("QUERY_STATUS", status)]
    head.extend(info(name, value) for name, value in infos)
    if coosys:
        head.append('  <COOSYS ID="system" system="ICRS"/>\n')
        head.append('  <TIMESYS ID="time" timeorigin="MJD-origin" timescale="UTC" refposition="UNKNOWN"/>\n')
    head.append("  <TABLE>\n")
    head.extend(field_element(column, ucd=(ucds or {}).get(column.name)) for column in columns)
    head.append("   <DATA><TABLEDATA>\n")
    yield "".join(head)
    chunk: list[str] = []
    for row in rows:
        chunk.append("<TR>" + "".join(cell(value) for value in row) + "</TR>\n")
        if len(chunk) >= ROWS_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    chunk.append("   </TABLEDATA></DATA>\n  </TABLE>\n </RESOURCE>\n")
    chunk.extend(descriptor.xml() for descriptor in descriptors)
    chunk.append(FOOTER)
    yield "".join(chunk)


def error(message: str, *, scs: bool = False) -> str:
    """DALI's error document: QUERY_STATUS ERROR with the fault's text; for the cone search also SCS 1.03's
    `INFO name="Error"` as a child of VOTABLE."""
    top = info("Error", message, indent=" ") if scs else ""
    return f'{HEADER}{top} <RESOURCE type="results">\n{info("QUERY_STATUS", "ERROR", message)} </RESOURCE>\n{FOOTER}'
