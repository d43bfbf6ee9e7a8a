"""FITS headers for server-side ingest: reading, cleaning, the public date and the sky footprint.

Pure functions over file objects and dicts: no database, no network, no Django settings. The caller passes the rules
(`Rules.from_settings`) and the proposal's tags from the observation portal, so every rule is testable on its own.
The rules restate ocs_archive 0.5.0's (the ingester's), in its order, so a file ingested here gets the record the
ingester would have posted for it; docs/frames.md, "Server-side ingest", states them.
"""

import datetime
import logging
import math
import re
import warnings
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from frames.columns import FIELD_KEYWORDS
from frames.footprints import footprint, is_set

logger = logging.getLogger(__name__)

FITS_EXTENSIONS = (".fits", ".fits.fz")
COMPRESSED_EXTENSION = ".fits.fz"

# Keywords whose null-like values become null rather than "" (the ingester's integer keywords).
INTEGER_KEYWORDS = ("REQNUM", "TRACKNUM", "BLKUID", "MOLUID")
CATALOG_TARGET_KEY = "L1IDCAT"
PRIVATE_FOREVER = datetime.timedelta(days=999 * 365)
COMMENTARY_KEYWORDS = ("COMMENT", "HISTORY", "")
# The warnings astropy gives, instead of an error, for a file cut short or a header it had to skip.
DAMAGE_WARNINGS = re.compile(r"truncated|Error validating header", re.IGNORECASE)

# The 5th part of an LCO file name starts with a letter that names the configuration type.
LETTER_TYPES = {
    "b": "BIAS",
    "d": "DARK",
    "f": "SKYFLAT",
    "g": "GUIDE",
    "s": "STANDARD",
    "w": "LAMPFLAT",
    "x": "EXPERIMENTAL",
}


class NotFitsError(Exception):
    """The bytes are not a FITS file astropy can read."""


class MissingHeadersError(Exception):
    """No HDU carries every required keyword; `missing` are those the closest HDU lacks, sorted."""

    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__(f"Missing required FITS header keywords: {', '.join(missing)}.")


class HeaderError(Exception):
    """A keyword whose value cannot be used (e.g. an OBSTYPE that cannot be inferred)."""

    def __init__(self, keyword: str, message: str):
        self.keyword = keyword
        self.message = message
        super().__init__(f"{keyword}: {message}")


@dataclass(frozen=True)
class Rules:
    """The settings that shape a record from a header; the defaults are ocs_archive 0.5.0's."""

    required_headers: tuple[str, ...] = (
        "PROPID",
        "DATE-OBS",
        "DAY-OBS",
        "INSTRUME",
        "SITEID",
        "TELID",
        "OBSTYPE",
        "BLKUID",
    )
    header_blacklist: tuple[str, ...] = ("HISTORY", "COMMENT")
    null_header_values: tuple[str, ...] = ("N/A", "UNSPECIFIED", "UNKNOWN")
    related_frame_keys: tuple[str, ...] = (
        "L1IDBIAS", "L1IDDARK", "L1IDFLAT", "L1IDSHUT", "L1IDMASK", "L1IDFRNG", "L1IDCAT", "L1IDARC", "L1ID1D",
        "L1ID2D", "L1IDSUM", "TARFILE", "ORIGNAME", "ARCFILE", "FLATFILE", "GUIDETAR",
    )  # fmt: skip
    public_proposals: tuple[str, ...] = ("EPO", "calib", "standard", "pointing")
    private_proposals: tuple[str, ...] = ("LCOEngineering",)
    private_file_types: tuple[str, ...] = ("-t00", "-x00")
    days_until_public: int = 365
    calibration_types: tuple[str, ...] = ("BIAS", "DARK", "SKYFLAT", "EXPERIMENTAL")
    private_proposal_tags: tuple[str, ...] = ("private", "internal")
    public_proposal_tags: tuple[str, ...] = ("public",)

    @classmethod
    def from_settings(cls, settings) -> "Rules":
        return cls(
            required_headers=tuple(settings.REQUIRED_HEADERS),
            header_blacklist=tuple(settings.HEADER_BLACKLIST),
            null_header_values=tuple(settings.NULL_HEADER_VALUES),
            related_frame_keys=tuple(settings.RELATED_FRAME_KEYS),
            public_proposals=tuple(settings.PUBLIC_PROPOSALS),
            private_proposals=tuple(settings.PRIVATE_PROPOSALS),
            private_file_types=tuple(settings.PRIVATE_FILE_TYPES),
            days_until_public=settings.DAYS_UNTIL_PUBLIC,
            calibration_types=tuple(settings.CALIBRATION_TYPES),
            private_proposal_tags=tuple(settings.PRIVATE_PROPOSAL_TAGS),
            public_proposal_tags=tuple(settings.PUBLIC_PROPOSAL_TAGS),
        )


DEFAULT_RULES = Rules()


# --- names ------------------------------------------------------------------------------------------------------------


def split_filename(filename: str) -> tuple[str, str]:
    """(basename, extension): the file name without directories, split at its first '.'."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    basename, dot, rest = name.partition(".")
    return basename, dot + rest


def is_fits_filename(filename: str) -> bool:
    basename, extension = split_filename(filename)
    return bool(basename) and extension in FITS_EXTENSIONS


# --- reading ----------------------------------------------------------------------------------------------------------


def json_value(value):
    """A header value as a JSON native: undefined and non-finite numbers are null, commentary cards one string."""
    from astropy.io.fits.card import Undefined

    if value is None or isinstance(value, Undefined):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return value.replace("\x00", "")  # PostgreSQL's jsonb cannot hold NUL, which damaged headers carry
    return str(value)  # complex numbers, HISTORY/COMMENT card lists


class ReadOnlyView:
    """A file seen through read, seek and tell only: astropy then opens it read-only whatever mode it was opened in
    (an upload's spool file is `w+b`, which astropy would only open for update) and can never write to it."""

    def __init__(self, fileobj: BinaryIO):
        self._fileobj = fileobj

    def read(self, size: int = -1) -> bytes:
        return self._fileobj.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fileobj.seek(offset, whence)

    def tell(self) -> int:
        return self._fileobj.tell()

    def close(self) -> None:
        """The caller owns the file and closes it."""


def card_value(card):
    """A card's value; a card astropy cannot parse (an unquoted string, say) as astropy's fixed reading of it."""
    from astropy.io.fits.verify import VerifyError

    try:
        return card.value
    except VerifyError:
        card.verify("fix")
        return card.value


def header_values(header) -> dict:
    """A FITS header as a dict of JSON natives: the first value of a repeated keyword, commentary cards joined."""
    values: dict = {}
    for card in header.cards:
        keyword = card.keyword
        try:
            value = card_value(card)
        except Exception as exc:  # astropy's fixing can fail in many ways; one bad card must not lose the file
            logger.warning("Unreadable FITS card %r left out: %s", keyword, exc)
            continue
        if keyword in COMMENTARY_KEYWORDS:
            text = json_value(str(value))
            values[keyword] = f"{values[keyword]}\n{text}" if keyword in values else text
        elif keyword not in values:
            values[keyword] = json_value(value)
    return values


def read_header(fileobj: BinaryIO, *, required: tuple[str, ...], overrides: dict | None = None) -> dict:
    """The first HDU's header that, with `overrides` applied, has every `required` keyword (presence only).

    Compressed images are read through astropy's decompressed view, so in a `.fits.fz` file that is HDU 1's image
    header. Only headers are read, never the data. Raises NotFitsError or MissingHeadersError.
    """
    from astropy.io import fits

    overrides = {key: json_value(value) for key, value in (overrides or {}).items()}
    chosen: dict | None = None
    closest: list[str] | None = None
    fileobj.seek(0)
    # astropy only warns about a file cut short or a header it cannot parse (and about every non-standard card,
    # which the archive accepts), so the warnings are collected and the two damaging kinds refuse the file.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(ReadOnlyView(fileobj), mode="readonly", lazy_load_hdus=True, memmap=False) as hdus:
                # Every HDU's header is read (never the data), so a damaged file is noticed before it is archived.
                for hdu in hdus:
                    if chosen is not None:
                        continue
                    header = header_values(hdu.header)
                    header.update(overrides)
                    missing = sorted(key for key in required if key not in header)
                    if not missing:
                        chosen = header
                    elif closest is None or len(missing) < len(closest):
                        closest = missing
        except (OSError, ValueError, TypeError, IndexError, KeyError, EOFError) as exc:
            # astropy reports bytes that are not FITS through any of these.
            raise NotFitsError(str(exc)) from exc
    damage = [str(w.message) for w in caught if DAMAGE_WARNINGS.search(str(w.message))]
    if damage:
        raise NotFitsError(damage[0])
    if chosen is not None:
        return chosen
    if closest is None:
        raise NotFitsError("no HDU")
    raise MissingHeadersError(closest)


# --- cleaning (in ocs_archive 0.5.0's order; docs/frames.md, "Header cleaning") ----------------------------------


def clean_header(
    raw: dict, *, basename: str, extension: str, rules: Rules = DEFAULT_RULES, proposal_tags: list[str] | None = None
) -> dict:
    """The header as the ingester would post it: repaired, filtered and normalised, in the ingester's order.

    `proposal_tags` are the portal's tags of the proposal (None: unknown or not asked), used only when the file
    carries no L1PUBDAT. Raises HeaderError when OBSTYPE must be inferred and cannot be.
    """
    header = dict(raw)
    if not is_set(header, "DAY-OBS") and isinstance(header.get("DATE-OBS"), str) and header["DATE-OBS"]:
        header["DAY-OBS"] = header["DATE-OBS"].split("T")[0].replace("-", "")
    if not is_set(header, "L1PUBDAT"):
        # Decided on the header as it came, before null values are blanked and OBSTYPE is repaired.
        header["L1PUBDAT"] = public_date(header, basename=basename, rules=rules, proposal_tags=proposal_tags)
    header.pop("", None)
    for keyword in rules.header_blacklist:
        header.pop(keyword, None)
    for keyword, value in header.items():
        if keyword in INTEGER_KEYWORDS:
            if value in rules.null_header_values or "NONE" in str(value).upper():
                header[keyword] = None
        elif value in rules.null_header_values:
            header[keyword] = ""
    for keyword in rules.related_frame_keys:
        value = header.get(keyword)
        if value and value != "N/A":
            header[keyword] = related_name(value)
    if extension == COMPRESSED_EXTENSION:
        # The ingester's LCO rules, which it applies to .fits.fz files only.
        if "_cat" in basename:
            if not header.get(CATALOG_TARGET_KEY):
                header[CATALOG_TARGET_KEY] = basename.replace("_cat", "")
            header["OBSTYPE"] = "CATALOG"
        obstype = header.get("OBSTYPE")
        if not obstype or str(obstype).strip() == "UNKNOWN":
            header["OBSTYPE"] = infer_configuration_type(basename, header)
        if not is_set(header, "RLEVEL"):
            header["RLEVEL"] = reduction_level_from_name(basename)
    elif not is_set(header, "RLEVEL"):
        header["RLEVEL"] = 0
    return header


def related_name(value) -> str:
    """A related file as its basename: no directories, cut at the first '.'."""
    return split_filename(str(value))[0]


def related_frames(header: dict, rules: Rules = DEFAULT_RULES) -> list[str]:
    """The set values of the related-frame keywords (already cut to basenames by `clean_header`), in key order."""
    names: list[str] = []
    for keyword in rules.related_frame_keys:
        value = header.get(keyword)
        if value and value != "N/A" and value not in names:
            names.append(str(value))
    return names


def infer_configuration_type(basename: str, header: dict) -> str:
    """OBSTYPE from an LCO file name such as `lsc1m005-fa15-20240501-0042-b00`; HeaderError when it cannot be."""
    parts = basename.split("-")
    if len(parts) < 5 or not parts[4]:
        raise HeaderError("OBSTYPE", "OBSTYPE is UNKNOWN and could not be inferred from the file name; set it.")
    letter = parts[4][0]
    is_nres = "igl" in str(header.get("ENCID") or "") or "igl" in str(header.get("TELID") or "")
    if parts[0] == "trace":
        return "TRACE"
    if parts[0] == "arc":
        return "ARC"
    if parts[3] == "bias":
        return "BIAS"
    if parts[3] == "bpm":
        return "BPM"
    if letter == "e":
        if is_nres:
            return "TARGET"
        return "SPECTRUM" if "en" in parts[1] else "EXPOSE"
    if letter == "a":
        return "DOUBLE" if is_nres else "ARC"
    if letter in LETTER_TYPES:
        return LETTER_TYPES[letter]
    raise HeaderError("OBSTYPE", "OBSTYPE is UNKNOWN and could not be inferred from the file name; set it.")


def reduction_level_from_name(basename: str) -> int:
    """The last two characters of an LCO file name (`…-e91` → 91, catalogs without `_cat`), else 0."""
    try:
        return int(basename.replace("_cat", "")[-2:])
    except ValueError:
        return 0


# --- public date (docs/frames.md, "Public date") -------------------------------------------------------------------


def parse_date_obs(value) -> datetime.datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def public_date(header: dict, *, basename: str, rules: Rules = DEFAULT_RULES, proposal_tags: list[str] | None = None):
    """L1PUBDAT for a file that has none: DATE-OBS, later, or practically never, by the portal's tags and the rules.

    Returns a string as the header would carry it, or None when DATE-OBS is unreadable (its own validation then
    names DATE-OBS) or the date would overflow the calendar (never public).
    """
    date_obs = header.get("DATE-OBS")
    observed = parse_date_obs(date_obs)
    if observed is None:
        return None

    def later(delta: datetime.timedelta) -> str | None:
        try:
            return (observed + delta).isoformat()
        except OverflowError:
            return None

    tags = list(proposal_tags or [])
    if any(tag in rules.private_proposal_tags for tag in tags):
        return later(PRIVATE_FOREVER)
    if any(tag in rules.public_proposal_tags for tag in tags):
        return date_obs
    proposal = str(header.get("PROPID") or "")
    if header.get("OBSTYPE") in rules.calibration_types or (
        proposal and any(name in proposal for name in rules.public_proposals)
    ):
        return date_obs
    if (proposal and any(name in proposal for name in rules.private_proposals)) or any(
        chars in basename for chars in rules.private_file_types
    ):
        return later(PRIVATE_FOREVER)
    return later(datetime.timedelta(days=rules.days_until_public))


# --- the ingest body (docs/frames.md, "Fields from keywords") -----------------------------------------------------


def ingest_body(header: dict, *, basename: str, rules: Rules = DEFAULT_RULES) -> dict:
    """The body the ingester would POST to /frames/ for a cleaned header, without its version."""
    body: dict = {"basename": basename, "version_set": [], "headers": header}
    for field, (keyword, default) in FIELD_KEYWORDS.items():
        body[field] = header.get(keyword, default)
    if isinstance(body["observation_day"], int):
        body["observation_day"] = str(body["observation_day"])  # DAY-OBS written as a number, 20240501
    body["related_frame_filenames"] = related_frames(header, rules)
    body["area"] = footprint(header, name=basename)
    return body
