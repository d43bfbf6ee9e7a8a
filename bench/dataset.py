"""The synthetic archive the benchmarks run on: a fixed distribution, drawn reproducibly from a seed.

A `Plan` holds the few numbers per frame that other frames refer to (time, instrument, type, reduction level,
number within the night, related frames), drawn up front: about 50 bytes a frame. Everything else (positions,
proposals, hashes, headers) is drawn chunk by chunk from a generator seeded by (seed, stream, chunk), so memory stays
bounded and a seed always gives the same archive. `records()` yields one plain dict per frame, which the generator
turns into COPY rows and the ingest benchmark into POST bodies.

The distribution: 5,000 targets, RA uniform, Dec uniform on the sphere with |Dec| <= 84.3 deg; 60 % of
frames at a target (jitter +-0.05 deg in Dec, +-0.05/cos(Dec) deg in RA), 40 % uniform on the sphere; a 0.3 x 0.3 deg
footprint (+-0.15 deg in Dec, +-0.15/max(cos Dec, 0.05) deg in RA), longitudes in [-180, 180); observation dates
uniform over the 5 years before `end`, observation day = (date - 12 h) as a date; 5 sites, 10 instruments (2 a
site), uniform; 20 proposals, 2 of them public at once, the others after 365 days; configuration types, filters,
exposure 1-300 s and reduction level 0 (40 %) / 91 (60 %) as below; one version per frame; about 150 header keys;
4 related calibration frames (for each of BIAS, DARK, SKYFLAT and LAMPFLAT, the instrument's latest such frame
before this one, or its first one after when there is none before).

One liberty: a footprint centre is kept within 89.85 deg of the equator so that the square stays a valid polygon
(about 3 frames per million are nudged).
"""

import datetime
import functools
import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from frames.paths import store_path

TARGETS = 5_000
TARGET_FRACTION = 0.6
TARGET_MAX_DEC = 84.3
TARGET_JITTER = 0.05
HALF_SIDE = 0.15
MAX_FOOTPRINT_DEC = 90 - HALF_SIDE
YEARS = 5
CHUNK = 5_000

# site: (telescope, telescope name in basenames, site name, latitude, longitude, height)
SITES = {
    "ogg": ("2m0a", "ogg2m001", "Haleakala Observatory", 20.7069, -156.2575, 3037.0),
    "coj": ("2m0a", "coj2m002", "Siding Spring Observatory", -31.2733, 149.0706, 1116.0),
    "lsc": ("1m0a", "lsc1m004", "Cerro Tololo Inter-American Observatory", -30.1673, -70.8049, 2198.0),
    "cpt": ("1m0a", "cpt1m010", "South African Astronomical Observatory", -32.3805, 20.8101, 1804.0),
    "elp": ("1m0a", "elp1m008", "McDonald Observatory", 30.6801, -104.0152, 2027.0),
}
INSTRUMENTS = (
    ("ogg", "ep02"),
    ("ogg", "en06"),
    ("coj", "ep05"),
    ("coj", "en12"),
    ("lsc", "fa15"),
    ("lsc", "fa04"),
    ("cpt", "fa14"),
    ("cpt", "fa16"),
    ("elp", "fa05"),
    ("elp", "fa07"),
)
# (type, probability, the letter of basenames)
CONFIGURATION_TYPES = (
    ("EXPOSE", 0.70, "e"),
    ("BIAS", 0.08, "b"),
    ("DARK", 0.07, "d"),
    ("SKYFLAT", 0.07, "f"),
    ("SPECTRUM", 0.03, "e"),
    ("LAMPFLAT", 0.02, "w"),
    ("STANDARD", 0.02, "s"),
    ("GUIDE", 0.01, "g"),
)
TYPE_NAMES = tuple(name for name, _, _ in CONFIGURATION_TYPES)
TYPE_WEIGHTS = tuple(weight for _, weight, _ in CONFIGURATION_TYPES)
# The calibrations a frame is related to, and the header keyword that names each.
RELATED = (("BIAS", "L1IDBIAS"), ("DARK", "L1IDDARK"), ("SKYFLAT", "L1IDFLAT"), ("LAMPFLAT", "L1IDSHUT"))
RELATED_TYPES = tuple(TYPE_NAMES.index(name) for name, _ in RELATED)
FILTERS = ("rp", "gp", "ip", "zs", "V", "B", "air")
PROCESSED_FRACTION = 0.6
EXPOSURE_RANGE = (1.0, 300.0)
# 20 proposals: an EPO one and a calibration one are public at once, the others 365 days after the observation.
PUBLIC_PROPOSALS = ("LCOEPO2021B-001", "calibrate")
PROPOSALS = PUBLIC_PROPOSALS + tuple(f"LCO{2021 + i // 6}{'AB'[i % 2]}-{i + 2:03d}" for i in range(18))
MEMBER_PROPOSALS = PROPOSALS[2:4]
PROPRIETARY_DAYS = 365
EXTENSION = ".fits.fz"
OBSERVATION_ID_BASE = 100_000_000
REQUEST_ID_BASE = 3_000_000
INGEST_DELAY_MS = 15 * 60 * 1000  # frames are archived about 15 minutes after they are taken

MS_PER_DAY = 86_400_000
NOON_MS = 12 * 3_600_000
MJD_UNIX_EPOCH = 40587.0
EWKB_POLYGON_HEADER = struct.pack("<BIIII", 1, 0x20000003, 4326, 1, 5)  # little-endian, polygon with SRID, 1 ring
EWKB_HEX_CHARS = 2 * (len(EWKB_POLYGON_HEADER) + 10 * 8)


def generator(seed: int, *key: int) -> np.random.Generator:
    """An independent random stream for (seed, key...): the same key always gives the same numbers."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def window_before(end: datetime.datetime, years: int = YEARS) -> tuple[datetime.datetime, datetime.datetime]:
    try:
        start = end.replace(year=end.year - years)
    except ValueError:  # 29 February
        start = end.replace(year=end.year - years, day=28)
    return start, end


@dataclass
class Targets:
    ra: np.ndarray
    dec: np.ndarray
    names: list[str]


def make_targets(seed: int) -> Targets:
    """5,000 targets: RA uniform in [0, 360), Dec uniform on the sphere with |Dec| <= 84.3 deg."""
    rng = generator(seed, 0)
    limit = math.sin(math.radians(TARGET_MAX_DEC))
    ra = rng.uniform(0.0, 360.0, TARGETS)
    dec = np.degrees(np.arcsin(rng.uniform(-limit, limit, TARGETS)))
    families = (("NGC {}", 7840), ("HD {}", 359083), ("WASP-{}", 200), ("TIC {}", 400_000_000), ("Gaia DR3 {}", 10**18))
    names = [pattern.format(int(rng.integers(1, top))) for pattern, top in (families[i % 5] for i in range(TARGETS))]
    return Targets(ra=ra, dec=dec, names=names)


@dataclass
class Plan:
    """The per-frame numbers that other frames refer to, for frames `first_id`, `first_id + 1`, ... in time order."""

    seed: int
    stream: int
    start: datetime.datetime
    end: datetime.datetime
    first_id: int
    time_ms: np.ndarray  # Unix milliseconds, sorted
    instrument: np.ndarray
    ctype: np.ndarray
    processed: np.ndarray
    day: np.ndarray  # observation day, days since 1970-01-01
    seq: np.ndarray  # number of the frame within its instrument's night, from 1
    related: np.ndarray  # (count, 4) indexes of the related calibrations, -1 for none
    skip_links: set[tuple[int, int]] = field(default_factory=set)

    @property
    def count(self) -> int:
        return len(self.time_ms)

    def basename(self, index: int) -> str:
        site, instrument = INSTRUMENTS[self.instrument[index]]
        letter = CONFIGURATION_TYPES[self.ctype[index]][2]
        level = 91 if self.processed[index] else 0
        day = _day_compact(int(self.day[index]))
        return f"{SITES[site][1]}-{instrument}-{day}-{self.seq[index]:04d}-{letter}{level:02d}"


def make_plan(
    *, count: int, seed: int, start: datetime.datetime, end: datetime.datetime, first_id: int = 1, stream: int = 0
) -> Plan:
    """Times, instruments, types and levels of `count` frames between `start` and `end`, and their relations."""
    rng = generator(seed, 1, stream)
    start_ms = int(start.timestamp() * 1000)
    span_ms = int((end - start).total_seconds() * 1000)
    time_ms = start_ms + np.sort(rng.integers(0, span_ms, count, dtype=np.int64))
    instrument = rng.integers(0, len(INSTRUMENTS), count).astype(np.int8)
    ctype = rng.choice(len(CONFIGURATION_TYPES), size=count, p=TYPE_WEIGHTS).astype(np.int8)
    processed = rng.random(count) < PROCESSED_FRACTION
    day = ((time_ms - NOON_MS) // MS_PER_DAY).astype(np.int32)
    related = _related_calibrations(instrument, ctype)
    return Plan(
        seed=seed,
        stream=stream,
        start=start,
        end=end,
        first_id=first_id,
        time_ms=time_ms,
        instrument=instrument,
        ctype=ctype,
        processed=processed,
        day=day,
        seq=_numbers_within_night(day, instrument),
        related=related,
        skip_links=_mutual_links(related),
    )


def _numbers_within_night(day: np.ndarray, instrument: np.ndarray) -> np.ndarray:
    """1, 2, 3... for the frames of each instrument and night, in time order (the frames are already sorted)."""
    count = len(day)
    key = day.astype(np.int64) * 16 + instrument
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    first = np.ones(count, dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(count), 0))
    seq = np.empty(count, dtype=np.int32)
    seq[order] = np.arange(count) - group_start + 1
    return seq


def _related_calibrations(instrument: np.ndarray, ctype: np.ndarray) -> np.ndarray:
    """For each frame and each related type, the instrument's latest such frame before it, else the first after."""
    related = np.full((len(instrument), len(RELATED_TYPES)), -1, dtype=np.int64)
    for index in range(len(INSTRUMENTS)):
        positions = np.flatnonzero(instrument == index)
        for column, type_index in enumerate(RELATED_TYPES):
            candidates = positions[ctype[positions] == type_index]
            if not len(candidates):
                continue
            before = np.searchsorted(candidates, positions, side="left") - 1
            after = np.searchsorted(candidates, positions, side="right")
            chosen = np.where(
                before >= 0, candidates[np.maximum(before, 0)], candidates[np.minimum(after, len(candidates) - 1)]
            )
            found = (before >= 0) | (after < len(candidates))
            related[positions[found], column] = chosen[found]
    return related


def _mutual_links(related: np.ndarray) -> set[tuple[int, int]]:
    """Pairs (frame, target) whose links the target already wrote: each link row exists once per direction.

    A frame relates to a later one only when its instrument had no such calibration before it (the first frames);
    if that later frame relates back, the earlier frame has written both directions already.
    """
    skip = set()
    frames, columns = np.nonzero(related > np.arange(len(related))[:, None])
    for frame, column in zip(frames.tolist(), columns.tolist(), strict=True):
        later = int(related[frame, column])
        if frame in related[later]:
            skip.add((later, frame))
    return skip


@functools.lru_cache(maxsize=8192)
def _day_iso(day: int) -> str:
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat()


@functools.lru_cache(maxsize=8192)
def _day_compact(day: int) -> str:
    return _day_iso(day).replace("-", "")


@functools.lru_cache(maxsize=8192)
def _day_date(day: int) -> datetime.date:
    return datetime.date(1970, 1, 1) + datetime.timedelta(days=day)


def _iso_ms(values_ms: np.ndarray) -> list[str]:
    return np.datetime_as_string(values_ms.astype("datetime64[ms]"), unit="ms").tolist()


def _sexagesimal(value: float, *, hours: bool) -> str:
    sign = "-" if value < 0 else ("" if hours else "+")
    value = abs(value) / 15.0 if hours else abs(value)
    whole = int(value)
    minutes = int((value - whole) * 60)
    seconds = (value - whole - minutes / 60) * 3600
    return f"{sign}{whole:02d}:{minutes:02d}:{seconds:06.3f}"


def _field_name(ra: float, dec: float) -> str:
    """A field's name from its position, `Jhhmmss+ddmmss`."""
    return "J" + _sexagesimal(ra, hours=True)[:8].replace(":", "") + _sexagesimal(dec, hours=False)[:9].replace(":", "")


def _ewkb_squares(lon: np.ndarray, dec: np.ndarray) -> list[str]:
    """Hex EWKB of the footprints: a square of +-0.15 deg in Dec and +-0.15/max(cos Dec, 0.05) deg in RA."""
    half_ra = HALF_SIDE / np.maximum(np.cos(np.radians(dec)), 0.05)
    west, east = lon - half_ra, lon + half_ra
    south, north = dec - HALF_SIDE, dec + HALF_SIDE
    xs = [west, east, east, west, west]
    ys = [south, south, north, north, south]
    coordinates = np.empty((len(lon), 10), dtype="<f8")
    for vertex in range(5):
        coordinates[:, 2 * vertex] = (xs[vertex] + 180.0) % 360.0 - 180.0
        coordinates[:, 2 * vertex + 1] = ys[vertex]
    rows = np.empty((len(lon), len(EWKB_POLYGON_HEADER) + 80), dtype=np.uint8)
    rows[:, : len(EWKB_POLYGON_HEADER)] = np.frombuffer(EWKB_POLYGON_HEADER, dtype=np.uint8)
    rows[:, len(EWKB_POLYGON_HEADER) :] = coordinates.view(np.uint8).reshape(len(lon), 80)
    text = rows.tobytes().hex()
    return [text[i : i + EWKB_HEX_CHARS] for i in range(0, len(text), EWKB_HEX_CHARS)]


def footprint_geojson(ra: float, dec: float) -> dict:
    """The same square as a GeoJSON polygon in RA/Dec degrees, RA in [0, 360), as the ingester posts it."""
    half_ra = HALF_SIDE / max(math.cos(math.radians(dec)), 0.05)
    corners = [(-half_ra, -HALF_SIDE), (half_ra, -HALF_SIDE), (half_ra, HALF_SIDE), (-half_ra, HALF_SIDE)]
    ring = [[round((ra + dx) % 360.0, 6), round(dec + dy, 6)] for dx, dy in corners]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


# --- headers ---------------------------------------------------------------------------------------------------------

# Per-frame numbers of the header, each drawn uniformly from its range and rounded.
NUMERIC_HEADERS = (
    ("AIRMASS", 1.0, 2.5, 4),
    ("AMSTART", 1.0, 2.5, 4),
    ("AMEND", 1.0, 2.5, 4),
    ("AZIMUTH", 0.0, 360.0, 4),
    ("ALTITUDE", 25.0, 90.0, 4),
    ("WMSHUMID", 5.0, 80.0, 1),
    ("WMSTEMP", -5.0, 25.0, 1),
    ("WMSPRES", 600.0, 900.0, 1),
    ("WINDSPEE", 0.0, 40.0, 2),
    ("WINDDIR", 0.0, 360.0, 1),
    ("WMSSKYBR", 17.0, 22.0, 3),
    ("SKYMAG", 17.0, 22.0, 3),
    ("MOONFRAC", 0.0, 1.0, 6),
    ("MOONDIST", 0.0, 180.0, 4),
    ("MOONALT", -90.0, 90.0, 4),
    ("SUNDIST", 30.0, 180.0, 4),
    ("SUNALT", -90.0, -12.0, 4),
    ("CCDATEMP", -110.0, -90.0, 3),
    ("M1TEMP", -5.0, 25.0, 1),
    ("FOCPOSN", -1.0, 1.0, 4),
    ("AGFWHM", 0.8, 4.0, 3),
    ("L1FWHM", 0.8, 4.0, 4),
    ("L1MEAN", 10.0, 5000.0, 3),
    ("L1MEDIAN", 10.0, 5000.0, 3),
    ("L1SIGMA", 3.0, 200.0, 3),
    ("L1ELLIP", 0.0, 0.5, 4),
    ("L1ELLIPA", -90.0, 90.0, 3),
    ("SATFRAC", 0.0, 0.01, 6),
    ("WCSERR", 0.0, 1.0, 0),
    ("LSTHOUR", 0.0, 24.0, 5),
    ("PM-RA", -0.05, 0.05, 7),
    ("PM-DEC", -0.05, 0.05, 7),
)


@functools.lru_cache(maxsize=len(INSTRUMENTS))
def _static_headers(instrument_index: int) -> str:
    """The header keywords that depend only on the instrument, as a JSON fragment without braces."""
    site, instrument = INSTRUMENTS[instrument_index]
    telescope, telescope_name, site_name, latitude, longitude, height = SITES[site]
    camera = {"fa": ("Sinistro", 4096, 0.389), "ep": ("MuSCAT3", 2048, 0.27), "en": ("FLOYDS", 2080, 0.337)}
    detector, pixels, scale = camera[instrument[:2]]
    section = f"[1:{pixels},1:{pixels}]"
    values = {
        "SIMPLE": True,
        "BITPIX": -32,
        "NAXIS": 2,
        "NAXIS1": pixels,
        "NAXIS2": pixels,
        "EXTEND": True,
        "ORIGIN": "LCOGT",
        "SITEID": site,
        "SITE": f"LCOGT node at {site_name}",
        "ENCID": "clma" if telescope == "2m0a" else "doma",
        "ENCLOSUR": "Clamshell-01" if telescope == "2m0a" else "Aqawan-01",
        "TELID": telescope,
        "TELESCOP": telescope_name[3:],
        "LATITUDE": latitude,
        "LONGITUD": longitude,
        "HEIGHT": height,
        "INSTRUME": instrument,
        "DETECTOR": detector,
        "DETECTID": f"{detector[:2].upper()}-{instrument_index + 101:04d}",
        "TIMESYS": "UTC",
        "RADESYS": "ICRS",
        "EQUINOX": 2000.0,
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CUNIT1": "deg",
        "CUNIT2": "deg",
        "CRPIX1": pixels / 2 + 0.5,
        "CRPIX2": pixels / 2 + 0.5,
        "CCDSUM": "1 1",
        "CCDSEC": section,
        "TRIMSEC": section,
        "BIASSEC": "N/A",
        "DATASEC": section,
        "DETSEC": section,
        "GAIN": round(1.0 + instrument_index / 10, 3),
        "RDNOISE": round(7.0 + instrument_index / 7, 3),
        "SATURATE": 125000.0,
        "MAXLIN": 120000.0,
        "RDSPEED": 1000.0,
        "DARKCURR": 0.002,
        "CCDSTEMP": -100.0,
        "CCDXPIXE": 1.5e-05,
        "CCDYPIXE": 1.5e-05,
        "PIXSCALE": scale,
        "FOLDSTAT": "N/A",
        "FOLDPORT": "0",
        "FOLDPNAM": "UNKNOWN",
        "M1COVER": "STATE_OPEN",
        "M1HRTMN": "STATE_OPEN",
        "MFPSTAT": "N/A",
        "PIPEVER": "1.19.1",
        "DATADICV": "LCOGT-DIC.FITS-0.11.0",
        "HDRVER": "LCOGT-HDR-1.4.0",
        "SCHEDNAM": "POND",
        "CONFMODE": "full_frame",
        "SRCTYPE": "EXTRASOLAR",
        "PARALLAX": 0.0,
        "RADVEL": 0.0,
        "TELMODE": "AUTOMATIC",
        "OBSNOTE": "",
        "ENC1STAT": "OPEN",
        "ENCWLIGT": "OFF",
        "AGCAM": f"{site}-{instrument_index:02d}-ag",
        "AGMODE": "ON",
        "AGFILTER": "NONE",
        "TCSSTATE": "OKAY",
        "TCSVER": "0.1",
        "ENGSTATE": "OPERATIONAL",
        "L1STATBI": 1,
        "L1STATDA": 1,
        "L1STATFL": 1,
        "L1STATOV": 0,
        "CAT-EPOC": 2000.0,
        "OFST-RA": "N/A",
        "OFST-DEC": "N/A",
    }
    return json.dumps(values)[1:-1]


def _dynamic_headers(record: dict, numbers: list[float], related_names: list[str]) -> dict:
    """The header keywords that change from frame to frame."""
    headers = dict(zip(NUMERIC_HEADER_NAMES, numbers, strict=True))
    headers["LST"] = _sexagesimal(headers.pop("LSTHOUR") * 15.0, hours=True)
    date_obs = record["observation_date"]
    ra, dec = record["ra"], record["dec"]
    headers.update(
        {
            "DATE": record["created"][:19],
            "DATE-OBS": date_obs,
            "DAY-OBS": record["observation_day"].replace("-", ""),
            "UTSTART": date_obs[11:],
            "UTSTOP": record["utstop"],
            "MJD-OBS": record["mjd"],
            "EXPTIME": record["exposure_time"],
            "REQTIME": round(record["exposure_time"]),
            "OBSTYPE": record["configuration_type"],
            "BLKUID": record["observation_id"],
            "REQNUM": record["request_id"],
            "MOLUID": record["observation_id"] * 3,
            "MOLTYPE": record["configuration_type"],
            "MOLNUM": 1,
            "MOLFRNUM": record["seq"] % 10 + 1,
            "FRMTOTAL": 10,
            "TRACKNUM": f"{record['request_id']:010d}",
            "ORIGNAME": record["basename"][:-2] + "00",
            "PROPID": record["proposal_id"],
            "USERID": record["userid"],
            "GROUPID": f"{record['target_name']}-{record['proposal_id']}",
            "OBJECT": record["target_name"],
            "RA": _sexagesimal(ra, hours=True),
            "DEC": _sexagesimal(dec, hours=False),
            "CAT-RA": _sexagesimal(ra, hours=True),
            "CAT-DEC": _sexagesimal(dec, hours=False),
            "CRVAL1": round(ra, 6),
            "CRVAL2": round(dec, 6),
            "CD1_1": record["pixel_scale_deg"],
            "CD1_2": 0.0,
            "CD2_1": 0.0,
            "CD2_2": record["pixel_scale_deg"],
            "FILTER": record["primary_optical_element"],
            "FILTER1": record["primary_optical_element"],
            "FILTERI1": f"{record['primary_optical_element']}-{record['instrument_id']}",
            "MOONSTAT": "UP" if headers["MOONALT"] > 0 else "DOWN",
            "RLEVEL": record["reduction_level"],
            "L1PUBDAT": record["public_date"],
            "IMAGEID": record["seq"],
        }
    )
    for (_, keyword), name in zip(RELATED, related_names, strict=True):
        headers[keyword] = name
    return headers


NUMERIC_HEADER_NAMES = tuple(name for name, _, _, _ in NUMERIC_HEADERS)


# --- records ---------------------------------------------------------------------------------------------------------


def records(plan: Plan, targets: Targets, start: int = 0, stop: int | None = None) -> Iterator[list[dict]]:
    """Lists of frame records, one list per chunk of the plan, for indexes [start, stop)."""
    stop = plan.count if stop is None else stop
    first_chunk = start // CHUNK
    for chunk in range(first_chunk, (stop + CHUNK - 1) // CHUNK):
        low, high = chunk * CHUNK, min((chunk + 1) * CHUNK, plan.count)
        batch = _chunk_records(plan, targets, chunk, low, high)
        yield [record for record in batch if start <= record["index"] < stop]


def _chunk_records(plan: Plan, targets: Targets, chunk: int, low: int, high: int) -> list[dict]:
    count = high - low
    rng = generator(plan.seed, 2, plan.stream, chunk)
    at_target = rng.random(count) < TARGET_FRACTION
    target = rng.integers(0, TARGETS, count)
    jitter_ra = rng.uniform(-TARGET_JITTER, TARGET_JITTER, count)
    jitter_dec = rng.uniform(-TARGET_JITTER, TARGET_JITTER, count)
    field_ra = rng.uniform(0.0, 360.0, count)
    field_dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, count)))
    proposal = rng.integers(0, len(PROPOSALS), count)
    optical = rng.integers(0, len(FILTERS), count)
    exposure = np.round(rng.uniform(*EXPOSURE_RANGE, count), 3)
    hashes = rng.bytes(32 * count).hex()
    lows = np.array([low_ for _, low_, _, _ in NUMERIC_HEADERS])
    highs = np.array([high_ for _, _, high_, _ in NUMERIC_HEADERS])
    numbers = lows + rng.random((count, len(NUMERIC_HEADERS))) * (highs - lows)
    for column, (_, _, _, digits) in enumerate(NUMERIC_HEADERS):
        numbers[:, column] = np.round(numbers[:, column], digits)

    target_dec = targets.dec[target]
    ra = np.where(at_target, targets.ra[target] + jitter_ra / np.cos(np.radians(target_dec)), field_ra) % 360.0
    dec = np.clip(np.where(at_target, target_dec + jitter_dec, field_dec), -MAX_FOOTPRINT_DEC, MAX_FOOTPRINT_DEC)
    lon = (ra + 180.0) % 360.0 - 180.0
    areas = _ewkb_squares(lon, dec)

    time_ms = plan.time_ms[low:high]
    public = np.isin(proposal, [PROPOSALS.index(p) for p in PUBLIC_PROPOSALS])
    public_ms = time_ms + np.where(public, 0, PROPRIETARY_DAYS * MS_PER_DAY)
    observed = _iso_ms(time_ms)
    published = _iso_ms(public_ms)
    created = _iso_ms(time_ms + INGEST_DELAY_MS)
    stopped = _iso_ms(time_ms + (exposure * 1000).astype(np.int64))
    mjd = np.round(time_ms / MS_PER_DAY + MJD_UNIX_EPOCH, 8)

    batch = []
    numbers_rows = numbers.tolist()
    for offset in range(count):
        index = low + offset
        batch.append(
            _record(
                plan,
                index,
                ra=float(ra[offset]),
                dec=float(dec[offset]),
                target_name=_target_name(targets, target[offset], at_target[offset], ra[offset], dec[offset]),
                proposal=PROPOSALS[proposal[offset]],
                optical=FILTERS[optical[offset]],
                exposure=float(exposure[offset]),
                md5=hashes[64 * offset : 64 * offset + 32],
                key=hashes[64 * offset + 32 : 64 * offset + 64],
                area=areas[offset],
                observed=observed[offset],
                published=published[offset],
                created=created[offset],
                stopped=stopped[offset][11:],
                mjd=float(mjd[offset]),
                numbers=numbers_rows[offset],
            )
        )
    return batch


def _target_name(targets: Targets, target: int, at_target: bool, ra: float, dec: float) -> str:
    return targets.names[target] if at_target else _field_name(float(ra), float(dec))


def _record(plan: Plan, index: int, **drawn) -> dict:
    """One frame: the columns of its rows, its version, its headers (JSON) and its related frames."""
    site, instrument = INSTRUMENTS[plan.instrument[index]]
    telescope = SITES[site][0]
    level = 91 if plan.processed[index] else 0
    day = int(plan.day[index])
    ctype = TYPE_NAMES[plan.ctype[index]]
    basename = plan.basename(index)
    related = [int(r) for r in plan.related[index]]
    related_names = [plan.basename(r) if r >= 0 else "N/A" for r in related]
    record = {
        "index": index,
        "id": plan.first_id + index,
        "basename": basename,
        "ra": drawn["ra"],
        "dec": drawn["dec"],
        "area": drawn["area"],
        "observation_date": drawn["observed"],
        "observation_day": _day_iso(day),
        "proposal_id": drawn["proposal"],
        "instrument_id": instrument,
        "target_name": drawn["target_name"],
        "site_id": site,
        "telescope_id": telescope,
        "primary_optical_element": drawn["optical"],
        "configuration_type": ctype,
        "reduction_level": level,
        "exposure_time": drawn["exposure"],
        "public_date": drawn["published"],
        "observation_id": OBSERVATION_ID_BASE + plan.stream * 10_000_000 + index // 4,
        "request_id": REQUEST_ID_BASE + plan.stream * 10_000_000 + index // 8,
        "created": drawn["created"],
        "md5": drawn["md5"],
        "key": drawn["key"],
        "store_path": store_path(
            basename=basename,
            extension=EXTENSION,
            site_id=site,
            instrument_id=instrument,
            observation_day=_day_date(day),
            reduction_level=level,
            configuration_type=ctype,
        ),
        # Link rows this frame writes (both directions each); a pair written by its other frame is left out.
        "related_ids": [plan.first_id + r for r in related if r >= 0 and (index, r) not in plan.skip_links],
        "related_names": [name for name in related_names if name != "N/A"],
        "seq": int(plan.seq[index]),
        "utstop": drawn["stopped"],
        "mjd": drawn["mjd"],
        "userid": f"observer{plan.stream}{PROPOSALS.index(drawn['proposal']):02d}",
        "pixel_scale_deg": round(0.389 / 3600, 10),
    }
    dynamic = _dynamic_headers(record, drawn["numbers"], related_names)
    record["headers"] = "{" + _static_headers(int(plan.instrument[index])) + ", " + json.dumps(dynamic)[1:]
    return record


def ingest_body(record: dict) -> dict:
    """The body ocs-ingester 3.x POSTs to /frames/ for this frame (frames.tests.factories.ingest_body's shape)."""
    return {
        "basename": record["basename"],
        "version_set": [{"key": record["key"], "md5": record["md5"], "extension": EXTENSION}],
        "headers": json.loads(record["headers"]),
        "related_frame_filenames": [name + EXTENSION for name in record["related_names"]],
        "area": footprint_geojson(record["ra"], record["dec"]),
        "observation_date": record["observation_date"],
        "observation_day": record["observation_day"],
        "proposal_id": record["proposal_id"],
        "instrument_id": record["instrument_id"],
        "target_name": record["target_name"],
        "reduction_level": record["reduction_level"],
        "site_id": record["site_id"],
        "telescope_id": record["telescope_id"],
        "exposure_time": record["exposure_time"],
        "primary_optical_element": record["primary_optical_element"],
        "public_date": record["public_date"],
        "configuration_type": record["configuration_type"],
        "observation_id": record["observation_id"],
        "request_id": record["request_id"],
    }
