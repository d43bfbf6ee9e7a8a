"""A small synthetic sample for a fresh archive (`manage.py load_sample_data`): FITS files made here and archived
through the server-side ingest, so that a newcomer has frames to search, combine and download.

Everything is derived from fixed tables and a fixed seed: the same run makes byte-identical files (tile compression
dithers with a seed taken from the pixels, never from the clock), so a second run finds every md5 archived already.

The sky: three targets, each with a synthetic star list (positions, r magnitudes and colours) and a few extended
Gaussian components for the nebula or galaxy. A science frame is a sky background with photon and read noise plus
Gaussian stars placed through the frame's own TAN WCS, compressed as `SCI`, with a `CAT` table measured from its
pixels (centroids and aperture photometry) as the pipeline's source catalogue would be. Master bias, dark and sky
flats of each camera and night are archived beside them and named by the science frames' L1IDBIAS, L1IDDARK and
L1IDFLAT.

The module is longer than the app's others on purpose: it is one recipe (the sky, the pixels, the catalogue, the
headers, the calibrations, the order of ingest) that reads top to bottom, and it is used by nothing but the command.
"""

import datetime
import io
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

SEED = 20260216
IMAGE_SIZE = 512  # pixels a side
TILE_ROWS = 64  # rows per compression tile: astropy's one-row tiles cost 0.1 s a file in Python overhead
FILTERS = ("gp", "rp", "ip")
EXPOSURES_PER_FILTER = 2
CALIBRATION_PROPOSAL = "calibrate"
READ_NOISE = 7.0  # electrons (gain 1)
SATURATION = 60000.0
SMALL_THUMBNAIL = 200  # pixels a side; the large thumbnail is the full image
THUMBNAIL_SIZES = ("small", "large")
# The catalogue's zero point and the colour of the sky, per filter: (magnitude giving 1 e-/s, sky e-/s per arcsec²).
FILTER_PHOTOMETRY = {"gp": (23.2, 0.9), "rp": (23.4, 1.6), "ip": (22.9, 2.4)}
# Extended components are brighter in some filters: the colour image then has colour.
BLOB_COLOUR = {"gp": 0.8, "rp": 1.0, "ip": 0.7}


@dataclass(frozen=True)
class Blob:
    """An extended Gaussian component: its offset from the target (arcsec), size (arcsec) and r-band peak (e-/s)."""

    east: float
    north: float
    sigma: float
    rate: float


@dataclass(frozen=True)
class Target:
    name: str
    ra: float  # degrees, ICRS
    dec: float
    stars: int
    blobs: tuple[Blob, ...]


@dataclass(frozen=True)
class Camera:
    site: str
    telescope: str  # the basename's prefix, e.g. coj1m011
    telescope_id: str  # TELID
    enclosure: str
    instrument: str
    scale: float  # arcsec per pixel
    rotation: float  # degrees
    aperture_mag: float  # added to the zero points: a 0.4 m collects less light than a 1 m


@dataclass(frozen=True)
class Block:
    """One observation: a camera on a target for a proposal one night, EXPOSURES_PER_FILTER frames in each filter."""

    camera: Camera
    target: Target
    proposal: str
    night: datetime.date
    start: datetime.datetime  # UTC
    exptime: float
    observation_id: int
    request_id: int
    seeing: float  # FWHM, arcsec


TARGETS = {
    "M42": Target("M42", 83.82208, -5.39111, 140, (Blob(0, 0, 150, 60.0), Blob(-60, 90, 70, 35.0))),
    "NGC 2244": Target("NGC 2244", 97.98333, 4.94167, 200, (Blob(0, 0, 240, 4.0),)),
    "M51": Target(
        "M51", 202.46958, 47.19526, 90, (Blob(0, 0, 25, 90.0), Blob(0, 0, 80, 12.0), Blob(60, 255, 20, 40.0))
    ),
}
CAMERAS = {
    "coj": Camera("coj", "coj1m011", "1m0a", "doma", "fa12", 0.78, 0.15, 0.0),
    "lsc": Camera("lsc", "lsc1m005", "1m0a", "domb", "fa15", 0.78, -0.4, 0.0),
    "ogg": Camera("ogg", "ogg0m406", "0m4b", "clma", "kb27", 1.14, 0.8, -1.9),
}
# Public proposals carry their L1PUBDAT (their observation date); the proprietary one gets its public date when it is
# loaded (a year later), so that it stays proprietary for a year whenever the sample is loaded.
PUBLIC_PROPOSALS = ("LCOEPO2026A-004", "LCO2026A-012")
PROPRIETARY_PROPOSAL = "LCO2026A-031"
NIGHTS = (datetime.date(2026, 2, 16), datetime.date(2026, 2, 17), datetime.date(2026, 2, 18))


def _block(camera: str, target: str, proposal: str, night: int, start: str, exptime: float, seeing: float) -> Block:
    """A block starting at `start` (UTC) in night number `night`; the Chilean night runs past midnight UTC."""
    hour, minute = (int(part) for part in start.split(":"))
    begins = datetime.datetime.combine(NIGHTS[night], datetime.time(hour, minute), tzinfo=datetime.UTC)
    if camera == "lsc":
        begins += datetime.timedelta(days=1)
    camera_number = list(CAMERAS).index(camera)
    observation_id, request_id = 4_120_000 + 1000 * night + 100 * camera_number, 3_310_000 + 10 * night + camera_number
    return Block(
        CAMERAS[camera], TARGETS[target], proposal, NIGHTS[night], begins, exptime, observation_id, request_id, seeing
    )


# In loading order; the first two already hold a public and the proprietary proposal (`--blocks 2` in the tests).
BLOCKS = (
    _block("coj", "M42", "LCOEPO2026A-004", 0, "10:40", 20.0, 1.9),
    _block("ogg", "M51", PROPRIETARY_PROPOSAL, 0, "12:15", 60.0, 2.1),
    _block("lsc", "NGC 2244", "LCO2026A-012", 1, "01:30", 30.0, 1.6),
    _block("coj", "M42", "LCOEPO2026A-004", 1, "11:05", 20.0, 2.3),
    _block("lsc", "NGC 2244", "LCO2026A-012", 2, "01:50", 30.0, 1.8),
    _block("ogg", "M51", PROPRIETARY_PROPOSAL, 2, "12:40", 60.0, 2.6),
)


@dataclass
class SampleFile:
    """One FITS file of the sample: its name, bytes and what the ingest needs beside them."""

    filename: str  # basename + ".fits.fz"
    data: bytes
    image: np.ndarray  # the pixels, for the thumbnails
    science: bool
    metadata: dict  # keyword overrides for the ingest (the proprietary proposal's public date)

    @property
    def basename(self) -> str:
        return self.filename.split(".", 1)[0]


# --- the sky ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StarList:
    ra: np.ndarray
    dec: np.ndarray
    r_mag: np.ndarray
    colour: dict[str, np.ndarray]  # magnitude offset from r per filter


def star_list(target: Target, index: int) -> StarList:
    """The target's synthetic stars within 6 arcmin: many faint, few bright (r 12.5 to 19), colours about solar."""
    rng = np.random.default_rng((SEED, 1, index))
    half = 6.0 / 60.0
    dec = target.dec + rng.uniform(-half, half, target.stars)
    ra = target.ra + rng.uniform(-half, half, target.stars) / math.cos(math.radians(target.dec))
    r_mag = 19.0 - 6.5 * rng.power(3.0, target.stars) ** 2.5
    g_r = rng.normal(0.6, 0.3, target.stars)
    r_i = rng.normal(0.25, 0.15, target.stars)
    return StarList(ra, dec, r_mag, {"gp": g_r, "rp": np.zeros(target.stars), "ip": -r_i})


STAR_LISTS = {name: star_list(target, index) for index, (name, target) in enumerate(TARGETS.items())}


def wcs_cards(camera: Camera, ra: float, dec: float) -> dict:
    """A TAN WCS centred on (ra, dec), north up and east left, turned by the camera's rotation."""
    scale = camera.scale / 3600.0
    turn = math.radians(camera.rotation)
    centre = (IMAGE_SIZE + 1) / 2
    return {
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CUNIT1": "deg",
        "CUNIT2": "deg",
        "RADESYS": "ICRS",
        "CRPIX1": centre,
        "CRPIX2": centre,
        "CRVAL1": round(ra, 7),
        "CRVAL2": round(dec, 7),
        "CD1_1": -scale * math.cos(turn),
        "CD1_2": scale * math.sin(turn),
        "CD2_1": scale * math.sin(turn),
        "CD2_2": scale * math.cos(turn),
    }


def _wcs(cards: dict):
    from astropy.io import fits
    from astropy.wcs import WCS

    return WCS(fits.Header(cards))


def render_sky(
    *, block: Block, filter_name: str, cards: dict, rng: np.random.Generator
) -> tuple[np.ndarray, float, float]:
    """The frame's pixels (electrons, float32) and its sky level and PSF sigma in pixels."""
    zero_point, sky_rate = FILTER_PHOTOMETRY[filter_name]
    zero_point += block.camera.aperture_mag
    scale = block.camera.scale
    sky = sky_rate * scale**2 * block.exptime
    sigma = block.seeing / 2.3548 / scale
    image = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float64)
    wcs = _wcs(cards)
    rows, columns = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    target = block.target
    cos_dec = math.cos(math.radians(target.dec))
    for blob in target.blobs:
        x, y = wcs.all_world2pix(target.ra + blob.east / 3600.0 / cos_dec, target.dec + blob.north / 3600.0, 0)
        spread = math.hypot(blob.sigma / scale, sigma)
        peak = blob.rate * BLOB_COLOUR[filter_name] * scale**2 * block.exptime
        image += peak * np.exp(-((columns - x) ** 2 + (rows - y) ** 2) / (2 * spread**2))
    stars = STAR_LISTS[target.name]
    xs, ys = wcs.all_world2pix(stars.ra, stars.dec, 0)
    fluxes = 10 ** (-0.4 * (stars.r_mag + stars.colour[filter_name] - zero_point)) * block.exptime
    reach = int(math.ceil(5 * sigma))
    for x, y, flux in zip(xs, ys, fluxes, strict=True):
        if not (-reach < x < IMAGE_SIZE + reach and -reach < y < IMAGE_SIZE + reach):
            continue
        x0, x1 = max(int(x) - reach, 0), min(int(x) + reach + 1, IMAGE_SIZE)
        y0, y1 = max(int(y) - reach, 0), min(int(y) + reach + 1, IMAGE_SIZE)
        if x0 >= x1 or y0 >= y1:
            continue
        box_y, box_x = np.mgrid[y0:y1, x0:x1]
        image[y0:y1, x0:x1] += (
            flux / (2 * math.pi * sigma**2) * np.exp(-((box_x - x) ** 2 + (box_y - y) ** 2) / (2 * sigma**2))
        )
    image += sky
    image += rng.normal(0.0, 1.0, image.shape) * np.sqrt(image + READ_NOISE**2)
    return np.minimum(image, SATURATION).astype(np.float32), sky, sigma


def background_maps(image: np.ndarray, block: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """The background and its noise per pixel: the median and MAD of each `block` x `block` box, spread over it."""
    boxes = image.reshape(image.shape[0] // block, block, image.shape[1] // block, block).swapaxes(1, 2)
    boxes = boxes.reshape(boxes.shape[0], boxes.shape[1], -1)
    median = np.median(boxes, axis=2)
    noise = 1.4826 * np.median(np.abs(boxes - median[..., None]), axis=2)
    spread = np.ones((block, block))
    return np.kron(median, spread), np.kron(noise, spread)


def source_catalogue(image: np.ndarray, *, cards: dict, sigma: float, exptime: float, zero_point: float):
    """The `CAT` table: sources found as the brightest pixel of their 5 x 5 neighbourhood, 5 sigma above the local
    background (`background_maps`), centroided, with aperture fluxes (radius 3 sigma of the PSF) over that background
    and magnitudes on the given zero point."""
    from astropy.io import fits

    background, noise = background_maps(image)
    radius = max(3.0 * sigma, 2.0)
    reach = int(math.ceil(radius))
    padded = np.pad(image, 2, mode="edge")
    neighbours = np.max(
        [padded[2 + dy : 2 + dy + image.shape[0], 2 + dx : 2 + dx + image.shape[1]]
         for dy in range(-2, 3) for dx in range(-2, 3) if dy or dx],
        axis=0,
    )  # fmt: skip
    peaks = np.argwhere((image > neighbours) & (image > background + 5 * noise))
    peaks = [(y, x) for y, x in peaks if reach <= y < image.shape[0] - reach and reach <= x < image.shape[1] - reach]
    rows: list[tuple[float, ...]] = []
    box_y, box_x = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    inside = box_x**2 + box_y**2 <= radius**2
    for y, x in peaks:
        cut = image[y - reach : y + reach + 1, x - reach : x + reach + 1] - background[y, x]
        weights = np.where(inside, np.clip(cut, 0, None), 0)
        total = float(weights.sum())
        if total <= 0:
            continue
        cx = x + float((weights * box_x).sum()) / total
        cy = y + float((weights * box_y).sum()) / total
        flux = float(cut[inside].sum())
        if flux <= 0:
            continue
        fluxerr = math.sqrt(flux + inside.sum() * noise[y, x] ** 2)
        rows.append((cx + 1, cy + 1, flux, fluxerr))  # 1-based pixel centres, as SExtractor writes them
    table = np.array(rows, dtype=np.float64).reshape(-1, 4)
    x, y, flux, fluxerr = table.T
    ra, dec = _wcs(cards).all_pix2world(x - 1, y - 1, 0)
    mag = -2.5 * np.log10(flux / exptime) + zero_point
    magerr = 1.0857 * fluxerr / flux
    columns = [
        fits.Column(name=name, format="D", array=values)
        for name, values in (
            ("x", x),
            ("y", y),
            ("ra", ra),
            ("dec", dec),
            ("flux", flux),
            ("fluxerr", fluxerr),
            ("mag", mag),
            ("magerr", magerr),
        )
    ]
    return fits.BinTableHDU.from_columns(columns, name="CAT")


# --- files -----------------------------------------------------------------------------------------------------------


def _fits_bytes(image: np.ndarray, header: dict, catalogue=None) -> bytes:
    """A tile-compressed image named SCI (and the catalogue), dithered with a seed from the pixels, not the clock."""
    from astropy.io import fits
    from astropy.io.fits.hdu.compressed import DITHER_SEED_CHECKSUM

    cards = fits.Header()
    for key, value in header.items():
        cards[key] = value
    cards["COMMENT"] = "Synthetic sample data made by load_sample_data: not an observation."
    compressed = fits.CompImageHDU(
        data=image, header=cards, name="SCI", tile_shape=(TILE_ROWS, IMAGE_SIZE), dither_seed=DITHER_SEED_CHECKSUM
    )
    hdus = [fits.PrimaryHDU(), compressed]
    if catalogue is not None:
        hdus.append(catalogue)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()


def _sexagesimal(value: float, *, hours: bool) -> str:
    from astropy.coordinates import Angle

    if hours:
        return Angle(value, unit="deg").to_string(unit="hourangle", sep=":", precision=3, pad=True)
    return Angle(value, unit="deg").to_string(unit="deg", sep=":", precision=2, pad=True, alwayssign=True)


def _date(value: datetime.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def calibration_names(block: Block) -> dict[str, str]:
    """The master calibrations a block's frames were reduced with: {"bias", "dark", filter: basename}."""
    prefix = f"{block.camera.telescope}-{block.camera.instrument}-{block.night:%Y%m%d}"
    names = {"bias": f"{prefix}-bias-bin1x1", "dark": f"{prefix}-dark-bin1x1"}
    names.update({name: f"{prefix}-skyflat-bin1x1-{name}" for name in FILTERS})
    return names


def _camera_cards(camera: Camera) -> dict:
    return {
        "ORIGIN": "SAMPLE",
        "SITEID": camera.site,
        "TELID": camera.telescope_id,
        "ENCID": camera.enclosure,
        "INSTRUME": camera.instrument,
        "GAIN": 1.0,
        "RDNOISE": READ_NOISE,
        "SATURATE": SATURATION,
    }


def calibration_files(block: Block, index: int) -> Iterator[SampleFile]:
    """The block's master bias, dark and one sky flat per filter, made at dusk of its night."""
    made = block.start - datetime.timedelta(hours=2)
    rows, columns = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    centre = (IMAGE_SIZE - 1) / 2
    vignetting = 1.0 - 0.06 * ((rows - centre) ** 2 + (columns - centre) ** 2) / centre**2
    for number, (kind, basename) in enumerate(calibration_names(block).items()):
        rng = np.random.default_rng((SEED, 2, index, number))
        if kind == "bias":
            obstype, exptime, filter_name = "BIAS", 0.0, "air"
            image = rng.normal(0.0, READ_NOISE / 6, (IMAGE_SIZE, IMAGE_SIZE))
        elif kind == "dark":
            obstype, exptime, filter_name = "DARK", 300.0, "air"
            image = np.abs(rng.normal(0.002, 0.0005, (IMAGE_SIZE, IMAGE_SIZE)))
            hot = rng.integers(0, IMAGE_SIZE, (40, 2))
            image[hot[:, 0], hot[:, 1]] = rng.uniform(0.5, 5.0, 40)  # hot pixels, e-/s
        else:
            obstype, exptime, filter_name = "SKYFLAT", 4.0, kind
            image = vignetting * (1.0 + rng.normal(0.0, 0.004, (IMAGE_SIZE, IMAGE_SIZE)))
        header = {
            "PROPID": CALIBRATION_PROPOSAL,
            "OBJECT": "N/A",
            "OBSTYPE": obstype,
            "BLKUID": "N/A",
            "REQNUM": "N/A",
            "DATE-OBS": _date(made + datetime.timedelta(minutes=number)),
            "DAY-OBS": f"{block.night:%Y%m%d}",
            **_camera_cards(block.camera),
            "FILTER": filter_name,
            "EXPTIME": exptime,
            "RLEVEL": 91,
            "ISMASTER": True,
        }
        image = image.astype(np.float32)
        yield SampleFile(f"{basename}.fits.fz", _fits_bytes(image, header), image, False, {})


def science_files(block: Block, index: int, *, proprietary_until: datetime.datetime) -> Iterator[SampleFile]:
    """The block's frames: EXPOSURES_PER_FILTER in each filter, each pointing dithered by up to 12 arcsec."""
    camera, target = block.camera, block.target
    calibrations = calibration_names(block)
    cos_dec = math.cos(math.radians(target.dec))
    moment = block.start
    filters = [name for name in FILTERS for _ in range(EXPOSURES_PER_FILTER)]
    for number, filter_name in enumerate(filters):
        rng = np.random.default_rng((SEED, 3, index, number))
        east, north = rng.uniform(-12.0, 12.0, 2) / 3600.0
        ra, dec = target.ra + east / cos_dec, target.dec + north
        cards = wcs_cards(camera, ra, dec)
        image, sky, sigma = render_sky(block=block, filter_name=filter_name, cards=cards, rng=rng)
        zero_point = FILTER_PHOTOMETRY[filter_name][0] + camera.aperture_mag
        catalogue = source_catalogue(image, cards=cards, sigma=sigma, exptime=block.exptime, zero_point=zero_point)
        basename = f"{camera.telescope}-{camera.instrument}-{block.night:%Y%m%d}-{40 + 10 * index + number:04d}-e91"
        mjd = (moment - datetime.datetime(1858, 11, 17, tzinfo=datetime.UTC)).total_seconds() / 86400
        header = {
            "PROPID": block.proposal,
            "OBJECT": target.name,
            "OBSTYPE": "EXPOSE",
            "BLKUID": block.observation_id,
            "REQNUM": block.request_id,
            "MOLUID": block.observation_id * 10 + 1,
            "DATE-OBS": _date(moment),
            "DAY-OBS": f"{block.night:%Y%m%d}",
            "MJD-OBS": round(mjd, 8),
            **_camera_cards(camera),
            "FILTER": filter_name,
            "EXPTIME": block.exptime,
            "RLEVEL": 91,
            "USERID": "sample.observer",
            "RA": _sexagesimal(ra, hours=True),
            "DEC": _sexagesimal(dec, hours=False),
            "AIRMASS": round(1.1 + 0.05 * number, 3),
            "L1FWHM": round(block.seeing, 2),
            "L1MEAN": round(sky, 2),
            "L1ZP": round(zero_point, 3),
            "L1IDBIAS": f"{calibrations['bias']}.fits.fz",
            "L1IDDARK": f"{calibrations['dark']}.fits.fz",
            "L1IDFLAT": f"{calibrations[filter_name]}.fits.fz",
            **cards,
        }
        metadata = {}
        if block.proposal == PROPRIETARY_PROPOSAL:
            metadata["L1PUBDAT"] = proprietary_until.strftime("%Y-%m-%dT%H:%M:%S")
        else:
            header["L1PUBDAT"] = _date(moment)
        yield SampleFile(f"{basename}.fits.fz", _fits_bytes(image, header, catalogue), image, True, metadata)
        moment += datetime.timedelta(seconds=block.exptime + 28)


def sample_files(*, proprietary_until: datetime.datetime, blocks: int | None = None) -> Iterator[SampleFile]:
    """The sample's files in ingest order, block by block: each block's calibrations, then its science frames.

    `blocks` keeps only the first so many blocks (a smaller sample). Files are made one at a time, as the caller
    asks for them.
    """
    for index, block in enumerate(BLOCKS[:blocks]):
        yield from calibration_files(block, index)
        yield from science_files(block, index, proprietary_until=proprietary_until)


# --- thumbnails ------------------------------------------------------------------------------------------------------


def thumbnail_jpegs(image: np.ndarray) -> dict[str, bytes]:
    """{size: JPEG bytes}: from zscale's lower limit to the 99.9th percentile under an asinh stretch (faint sky and
    bright nebulae both show), FITS row 0 at the bottom; large is the full image, small fits in SMALL_THUMBNAIL pixels
    a side."""
    from astropy.visualization import AsinhStretch, ManualInterval, ZScaleInterval
    from PIL import Image

    lower, _ = ZScaleInterval().get_limits(image)
    upper = float(np.percentile(image, 99.9))
    stretch = AsinhStretch(a=0.05) + ManualInterval(lower, max(upper, lower + 1e-6))
    pixels = np.flipud(np.round(stretch(image, clip=True) * 255)).astype(np.uint8)
    large = Image.fromarray(pixels)
    small = large.resize((SMALL_THUMBNAIL, SMALL_THUMBNAIL), Image.Resampling.LANCZOS)
    jpegs = {}
    for size, picture in (("small", small), ("large", large)):
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=85)
        jpegs[size] = buffer.getvalue()
    return jpegs
