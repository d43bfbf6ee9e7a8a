"""factory_boy factories of frames, versions, headers and thumbnails."""

import datetime
import hashlib
import uuid

import factory
from django.contrib.gis.geos import Polygon

from frames.models import Frame, Headers, Thumbnail, Version
from frames.paths import store_path


def box(ra: float, dec: float, half: float = 0.15) -> Polygon:
    """A square footprint around (ra, dec), longitudes normalised as stored."""
    lon = ra - 360 if ra > 180 else ra
    return Polygon(
        (
            (lon - half, dec - half),
            (lon + half, dec - half),
            (lon + half, dec + half),
            (lon - half, dec + half),
            (lon - half, dec - half),
        ),
        srid=4326,
    )


class FrameFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Frame
        skip_postgeneration_save = True

    basename = factory.Sequence(lambda n: f"ogg2m001-ep02-20240501-{n:04d}-e91")
    observation_date = factory.Sequence(
        lambda n: datetime.datetime(2024, 5, 1, 10, 0, tzinfo=datetime.UTC) + datetime.timedelta(minutes=n)
    )
    observation_day = factory.LazyAttribute(lambda f: (f.observation_date - datetime.timedelta(hours=12)).date())
    proposal_id = "LCO2024A-001"
    instrument_id = "ep02"
    target_name = "M51"
    site_id = "ogg"
    telescope_id = "2m0a"
    primary_optical_element = "rp"
    configuration_type = "EXPOSE"
    reduction_level = 91
    exposure_time = 30.0
    public_date = factory.LazyAttribute(lambda f: f.observation_date)
    observation_id = factory.Sequence(lambda n: 1000 + n)
    request_id = factory.Sequence(lambda n: 5000 + n)
    area = factory.LazyFunction(lambda: box(202.47, 47.19))

    @factory.post_generation
    def version(self, create, extracted, **kwargs):
        """A version unless `version=False`."""
        if create and extracted is not False:
            VersionFactory(frame=self)


class VersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Version

    frame = factory.SubFactory(FrameFactory, version=False)
    key = factory.LazyFunction(lambda: str(uuid.uuid4()))
    md5 = factory.Sequence(lambda n: hashlib.md5(f"version-{n}-{uuid.uuid4()}".encode()).hexdigest())
    extension = ".fits.fz"
    store_path = factory.LazyAttribute(
        lambda v: store_path(
            basename=v.frame.basename,
            extension=v.extension,
            site_id=v.frame.site_id,
            instrument_id=v.frame.instrument_id,
            observation_day=v.frame.observation_day,
            reduction_level=v.frame.reduction_level,
        )
    )


class HeadersFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Headers

    frame = factory.SubFactory(FrameFactory)
    data = factory.LazyFunction(lambda: {"OBJECT": "M51", "USERID": "jdoe"})


class ThumbnailFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Thumbnail

    frame = factory.SubFactory(FrameFactory)
    size = "small"
    basename = factory.LazyAttribute(lambda t: f"{t.frame.basename}-{t.size}")
    extension = ".jpg"
    key = factory.LazyFunction(lambda: str(uuid.uuid4()))
    store_path = factory.LazyAttribute(lambda t: f"ogg/ep02/20240501/thumbnails/{t.basename}{t.extension}")


def ingest_body(basename: str = "coj1m011-kb05-20150219-0125-e90", **overrides) -> dict:
    """A body shaped like the one ocs-ingester 3.2.0 POSTs to /frames/."""
    md5 = uuid.uuid4().hex
    body = {
        "basename": basename,
        "version_set": [{"key": str(uuid.uuid4()), "md5": md5, "extension": ".fits.fz"}],
        "headers": {
            "OBJECT": "M84",
            "DATE-OBS": "2015-02-19T13:56:05.261",
            "DAY-OBS": "20150219",
            "PROPID": "LCOEPO2014B-010",
            "USERID": "jdoe",
            "BLKUID": "0053195954",
            "REQNUM": "0000296263",
        },
        "related_frame_filenames": ["coj1m011-kb05-20150219-bias-bin2x2.fits.fz"],
        "area": {
            "type": "Polygon",
            "coordinates": [[[188.2, 12.7], [188.4, 12.7], [188.4, 12.9], [188.2, 12.9], [188.2, 12.7]]],
        },
        "observation_date": "2015-02-19T13:56:05.261",
        "observation_day": "2015-02-19",
        "proposal_id": "LCOEPO2014B-010",
        "instrument_id": "kb05",
        "target_name": "M84",
        "reduction_level": 90,
        "site_id": "coj",
        "telescope_id": "1m0a",
        "exposure_time": 10.032415,
        "primary_optical_element": "V",
        "public_date": "2015-02-19T13:56:05.261",
        "configuration_type": "EXPOSE",
        "observation_id": "0053195954",
        "request_id": "0000296263",
    }
    body.update(overrides)
    return body
