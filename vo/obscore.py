"""The ObsCore view of a frame: the column table (what every SIA and cone-search FIELD says), the filter passbands,
the calibration levels, and the functions that turn a frame's row into the cells of a VOTable row."""

import datetime
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings

MJD_EPOCH = datetime.datetime(1858, 11, 17, tzinfo=datetime.UTC)
DEFAULT_CALIB_LEVEL = 2

# Approximate half-power points of the usual passbands, in nanometres; VO_FILTER_BANDS adds or replaces entries.
DEFAULT_FILTER_BANDS: dict[str, tuple[float, float]] = {
    "U": (330, 400),
    "B": (390, 490),
    "V": (500, 590),
    "R": (570, 720),
    "I": (720, 880),
    "up": (320, 385),
    "u'": (320, 385),
    "gp": (400, 550),
    "g'": (400, 550),
    "rp": (560, 700),
    "r'": (560, 700),
    "ip": (690, 820),
    "i'": (690, 820),
    "zs": (820, 920),
    "z'": (820, 920),
    "w": (400, 820),
    "Y": (950, 1060),
    "clear": (320, 1100),
    "air": (320, 1100),
}


def parse_filter_bands(text: str) -> dict[str, tuple[float, float]]:
    """`name:min_nm:max_nm,…`; ValueError naming the entry that is wrong."""
    bands: dict[str, tuple[float, float]] = {}
    for entry in (item.strip() for item in text.split(",")):
        if not entry:
            continue
        name, _, rest = entry.rpartition(":")
        name, _, low = name.rpartition(":")
        try:
            lo, hi = float(low), float(rest)
        except ValueError:
            raise ValueError(f"VO_FILTER_BANDS entry {entry!r} is not name:min_nm:max_nm") from None
        if not name or not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
            raise ValueError(f"VO_FILTER_BANDS entry {entry!r} needs a name and 0 < min_nm < max_nm")
        bands[name] = (lo, hi)
    return bands


def parse_calib_levels(text: str) -> dict[int, int]:
    """`reduction_level:calib_level,…`; ValueError naming the entry that is wrong."""
    levels: dict[int, int] = {}
    for entry in (item.strip() for item in text.split(",")):
        if not entry:
            continue
        reduction, _, calib = entry.partition(":")
        try:
            key, value = int(reduction), int(calib)
        except ValueError:
            raise ValueError(f"VO_CALIB_LEVELS entry {entry!r} is not reduction_level:calib_level") from None
        if not 0 <= value <= 4:
            raise ValueError(f"VO_CALIB_LEVELS entry {entry!r}: the calibration level must be 0 to 4")
        levels[key] = value
    return levels


def filter_bands() -> dict[str, tuple[float, float]]:
    """Filter name (exact) to (min, max) in metres."""
    table = {**DEFAULT_FILTER_BANDS, **parse_filter_bands(settings.VO_FILTER_BANDS)}
    return {name: (lo / 1e9, hi / 1e9) for name, (lo, hi) in table.items()}


def calib_levels() -> dict[int, int]:
    return parse_calib_levels(settings.VO_CALIB_LEVELS)


def resolving_power(lo: float, hi: float) -> float:
    return ((lo + hi) / 2) / (hi - lo)


class VersionCells(NamedTuple):
    """The current version of a frame, as DownloadLinks needs it."""

    id: int
    key: str
    extension: str
    store_path: str
    size: int | None


class FrameRow(NamedTuple):
    """One frame as the VO query reads it: the frame's columns, its footprint's centroid, diameter and ring, and its
    current version."""

    id: int
    basename: str
    observation_date: datetime.datetime
    proposal_id: str
    instrument_id: str
    target_name: str
    site_id: str
    telescope_id: str
    primary_optical_element: str
    configuration_type: str
    reduction_level: int
    exposure_time: float | None
    public_date: datetime.datetime | None
    observation_id: int | None
    request_id: int | None
    centroid_lon: float | None
    centroid_lat: float | None
    area_geojson: str | None
    version: VersionCells


@dataclass(frozen=True)
class Column:
    name: str
    datatype: str
    ucd: str
    description: str
    utype: str = ""
    unit: str = ""
    xtype: str = ""
    ref: str = ""
    id: str = ""

    @property
    def arraysize(self) -> str:
        return "*" if self.datatype == "char" else ""


def _obscore(name: str) -> str:
    return f"obscore:{name}"


_SPACE = "Char.SpatialAxis"
_POSITION = f"{_SPACE}.Coverage.Location.Coord.Position2D.Value2"
_TIME = "Char.TimeAxis"
_SPECTRAL = "Char.SpectralAxis"

COLUMNS: tuple[Column, ...] = (
    Column(
        "dataproduct_type",
        "char",
        "meta.code.class",
        "Data product type: image",
        _obscore("ObsDataset.dataProductType"),
    ),
    Column(
        "calib_level",
        "int",
        "meta.code;obs.calib",
        "Calibration level: 1 raw FITS, 2 reduced (ObsCore)",
        _obscore("ObsDataset.calibLevel"),
    ),
    Column("obs_collection", "char", "meta.id", "Name of the data collection", _obscore("DataID.collection")),
    Column(
        "obs_id", "char", "meta.id", "Observation identifier: the frame's basename", _obscore("DataID.observationID")
    ),
    Column(
        "obs_publisher_did",
        "char",
        "meta.ref.ivoid",
        "Publisher's dataset identifier (IVOID)",
        _obscore("Curation.publisherDID"),
        id="obs_publisher_did",
    ),
    Column(
        "access_url",
        "char",
        "meta.ref.url",
        "Download URL of the file, valid for a limited time",
        _obscore("Access.reference"),
    ),
    Column("access_format", "char", "meta.code.mime", "MIME type of the file", _obscore("Access.format")),
    Column("access_estsize", "long", "phys.size;meta.file", "Size of the file", _obscore("Access.size"), unit="kbyte"),
    Column("target_name", "char", "meta.id;src", "Name of the target (OBJECT)", _obscore("Target.name")),
    Column(
        "s_ra",
        "double",
        "pos.eq.ra",
        "RA of the footprint's centre (ICRS)",
        _obscore(f"{_POSITION}.C1"),
        unit="deg",
        ref="system",
    ),
    Column(
        "s_dec",
        "double",
        "pos.eq.dec",
        "Dec of the footprint's centre (ICRS)",
        _obscore(f"{_POSITION}.C2"),
        unit="deg",
        ref="system",
    ),
    Column(
        "s_fov",
        "double",
        "phys.angSize;instr.fov",
        "Largest distance between two footprint vertices",
        _obscore(f"{_SPACE}.Coverage.Bounds.Extent.diameter"),
        unit="deg",
    ),
    Column(
        "s_region",
        "char",
        "pos.outline;obs.field",
        "Footprint as an STC-S polygon",
        _obscore(f"{_SPACE}.Coverage.Support.Area"),
        xtype="adql:REGION",
    ),
    Column(
        "s_resolution",
        "double",
        "pos.angResolution",
        "Spatial resolution (not known)",
        _obscore(f"{_SPACE}.Resolution.Refval.value"),
        unit="arcsec",
    ),
    Column("s_xel1", "long", "meta.number", "Pixels along the first axis (not known)", _obscore(f"{_SPACE}.numBins1")),
    Column("s_xel2", "long", "meta.number", "Pixels along the second axis (not known)", _obscore(f"{_SPACE}.numBins2")),
    Column(
        "t_min",
        "double",
        "time.start;obs.exposure",
        "Start of the exposure (MJD, UTC)",
        _obscore(f"{_TIME}.Coverage.Bounds.Limits.StartTime"),
        unit="d",
        ref="time",
    ),
    Column(
        "t_max",
        "double",
        "time.end;obs.exposure",
        "End of the exposure (MJD, UTC)",
        _obscore(f"{_TIME}.Coverage.Bounds.Limits.StopTime"),
        unit="d",
        ref="time",
    ),
    Column(
        "t_exptime",
        "double",
        "time.duration;obs.exposure",
        "Exposure time",
        _obscore(f"{_TIME}.Coverage.Support.Extent"),
        unit="s",
    ),
    Column(
        "t_resolution",
        "double",
        "time.resolution",
        "Time resolution: the exposure time",
        _obscore(f"{_TIME}.Resolution.Refval.value"),
        unit="s",
    ),
    Column("t_xel", "long", "meta.number", "Samples along time (not known)", _obscore(f"{_TIME}.numBins")),
    Column(
        "em_min",
        "double",
        "em.wl;stat.min",
        "Shortest wavelength of the filter's passband",
        _obscore(f"{_SPECTRAL}.Coverage.Bounds.Limits.LoLimit"),
        unit="m",
    ),
    Column(
        "em_max",
        "double",
        "em.wl;stat.max",
        "Longest wavelength of the filter's passband",
        _obscore(f"{_SPECTRAL}.Coverage.Bounds.Limits.HiLimit"),
        unit="m",
    ),
    Column(
        "em_res_power",
        "double",
        "spect.resolution",
        "Resolving power of the filter",
        _obscore(f"{_SPECTRAL}.Resolution.ResolPower.refVal"),
    ),
    Column(
        "em_xel", "long", "meta.number", "Samples along the spectral axis (not known)", _obscore(f"{_SPECTRAL}.numBins")
    ),
    Column("o_ucd", "char", "meta.ucd", "UCD of the observable", _obscore("Char.ObservableAxis.ucd")),
    Column(
        "pol_states",
        "char",
        "meta.code;phys.polarization",
        "Polarization states (none)",
        _obscore("Char.PolarizationAxis.stateList"),
    ),
    Column(
        "pol_xel", "long", "meta.number", "Polarization samples (not known)", _obscore("Char.PolarizationAxis.numBins")
    ),
    Column(
        "facility_name",
        "char",
        "meta.id;instr.tel",
        "Site and telescope",
        _obscore("Provenance.ObsConfig.Facility.name"),
    ),
    Column("instrument_name", "char", "meta.id;instr", "Instrument", _obscore("Provenance.ObsConfig.Instrument.name")),
    Column(
        "obs_release_date",
        "char",
        "time.release",
        "When the frame becomes public (UTC)",
        _obscore("Curation.releaseDate"),
        xtype="timestamp",
    ),
    Column("data_rights", "char", "meta.code", "public or proprietary", _obscore("Curation.rights")),
    Column("proposal_id", "char", "meta.id;obs.proposal", "Proposal", _obscore("Provenance.Proposal.identifier")),
    Column("frame_id", "long", "meta.id", "The archive's frame id (/frames/<id>/)"),
    Column("observation_date", "char", "time.start;obs", "Start of the exposure (UTC)", xtype="timestamp"),
    Column("filter", "char", "meta.id;instr.filter", "Filter (primary optical element)"),
    Column("configuration_type", "char", "meta.code", "Configuration type (OBSTYPE)"),
    Column("reduction_level", "int", "meta.code.qual", "Reduction level (RLEVEL)"),
    Column("site_id", "char", "meta.id;instr.obsty", "Site code"),
    Column("telescope_id", "char", "meta.id;instr.tel", "Telescope code"),
    Column("request_id", "long", "meta.id", "Request id (REQNUM)"),
    Column("observation_id", "long", "meta.id", "Observation id (BLKUID)"),
)

COLUMNS_BY_NAME = {column.name: column for column in COLUMNS}


# --- cells ------------------------------------------------------------------------------------------------------------


def mjd(value: datetime.datetime) -> float:
    delta = value - MJD_EPOCH
    return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400.0


def from_mjd(value: float) -> datetime.datetime:
    """A UTC instant from an MJD, clamped to the dates Python and PostgreSQL can hold."""
    lowest = datetime.datetime(1, 1, 2, tzinfo=datetime.UTC)
    highest = datetime.datetime(9999, 12, 30, tzinfo=datetime.UTC)
    if value <= mjd(lowest):
        return lowest
    if value >= mjd(highest):
        return highest
    return MJD_EPOCH + datetime.timedelta(days=value)


def timestamp(value: datetime.datetime | None) -> str | None:
    """DALI's timestamp: `YYYY-MM-DDThh:mm:ss[.ffffff]`, UTC, no zone letter."""
    if value is None:
        return None
    return value.astimezone(datetime.UTC).replace(tzinfo=None).isoformat()


def publisher_did(basename: str) -> str:
    return f"ivo://{settings.VO_AUTHORITY}/frames?{basename}"


def basename_of_did(value: str) -> str | None:
    """The basename an IVOID of ours names (compared case-insensitively, as IVOIDs are), None for any other."""
    prefix = f"ivo://{settings.VO_AUTHORITY}/frames?".lower()
    if not value.lower().startswith(prefix) or len(value) == len(prefix):
        return None
    return value[len(prefix) :]


def outer_ring(geojson: str | None) -> list[tuple[float, float]] | None:
    """The footprint's outer ring (longitude, latitude), closing vertex omitted."""
    if not geojson:
        return None
    return [(lon, lat) for lon, lat in json.loads(geojson)["coordinates"][0][:-1]]


def stc_polygon(ring: list[tuple[float, float]] | None) -> str | None:
    """STC-S of the outer ring, RA in [0, 360)."""
    if not ring:
        return None
    return "POLYGON ICRS " + " ".join(f"{lon % 360.0!r} {lat!r}" for lon, lat in ring)


def fov_degrees(ring: list[tuple[float, float]] | None) -> float | None:
    """The largest great-circle distance between two vertices (haversine on the sphere, as PostGIS's
    `ST_Distance(…, false)`), in degrees."""
    if not ring:
        return None
    points = [(math.radians(lon), math.radians(lat)) for lon, lat in ring]
    largest = 0.0
    for i, (lon1, lat1) in enumerate(points):
        for lon2, lat2 in points[i + 1 :]:
            h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
            largest = max(largest, 2 * math.asin(min(1.0, math.sqrt(h))))
    return math.degrees(largest)


class Context(NamedTuple):
    """What the cells of a request share: computed once, not per row."""

    now: datetime.datetime
    bands: dict[str, tuple[float, float]]
    calib: dict[int, int]
    url: Callable[[FrameRow], str]


def cells(row: FrameRow, context: Context) -> dict[str, Any]:
    """Every column's value for one frame (None for a null cell)."""
    band = context.bands.get(row.primary_optical_element)
    t_min = mjd(row.observation_date)
    exposure = row.exposure_time
    size = row.version.size
    ring = outer_ring(row.area_geojson)
    return {
        "dataproduct_type": "image",
        "calib_level": context.calib.get(row.reduction_level, DEFAULT_CALIB_LEVEL),
        "obs_collection": settings.VO_COLLECTION,
        "obs_id": row.basename,
        "obs_publisher_did": publisher_did(row.basename),
        "access_url": context.url(row),
        "access_format": "image/fits",
        "access_estsize": math.ceil(size / 1000) if size is not None else None,
        "target_name": row.target_name or None,
        "s_ra": row.centroid_lon % 360.0 if row.centroid_lon is not None else None,
        "s_dec": row.centroid_lat,
        "s_fov": fov_degrees(ring),
        "s_region": stc_polygon(ring),
        "s_resolution": None,
        "s_xel1": None,
        "s_xel2": None,
        "t_min": t_min,
        "t_max": t_min + exposure / 86400.0 if exposure is not None else t_min,
        "t_exptime": exposure,
        "t_resolution": exposure,
        "t_xel": None,
        "em_min": band[0] if band else None,
        "em_max": band[1] if band else None,
        "em_res_power": resolving_power(*band) if band else None,
        "em_xel": None,
        "o_ucd": "phot.count",
        "pol_states": None,
        "pol_xel": None,
        "facility_name": f"{row.site_id}-{row.telescope_id}",
        "instrument_name": row.instrument_id,
        "obs_release_date": timestamp(row.public_date),
        "data_rights": "public" if row.public_date is not None and row.public_date < context.now else "proprietary",
        "proposal_id": row.proposal_id,
        "frame_id": row.id,
        "observation_date": timestamp(row.observation_date),
        "filter": row.primary_optical_element,
        "configuration_type": row.configuration_type,
        "reduction_level": row.reduction_level,
        "site_id": row.site_id,
        "telescope_id": row.telescope_id,
        "request_id": row.request_id,
        "observation_id": row.observation_id,
    }
