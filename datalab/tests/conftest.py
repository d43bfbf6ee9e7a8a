"""Fixtures of the datalab tests: users and their clients, archive frames whose FITS files are really stored, and
products kept in a directory of the test's own."""

import datetime

import pytest

from conftest import token_client
from frames.tests.factories import FrameFactory
from frames.tests.fitsfiles import make_fits
from frames.tests.storedfiles import store_version


@pytest.fixture(autouse=True)
def _datalab_dirs(settings, tmp_path):
    """Products and the scratch cache in the test's own directories."""
    settings.STORAGES = {
        **settings.STORAGES,
        "datalab": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "products"},
        },
    }
    settings.TEMP_FITS_DIR = tmp_path / "scratch"


@pytest.fixture
def observer(make_user):
    return make_user("observer", proposals=["LCO2024A-001"])


@pytest.fixture
def observer_client(observer):
    return token_client(observer)


@pytest.fixture
def stranger(make_user):
    return make_user("stranger", proposals=[])


@pytest.fixture
def stranger_client(stranger):
    return token_client(stranger)


@pytest.fixture
def stored_frame(tmp_path):
    """`stored_frame(basename, ra=..., dec=..., public=True, seed=...)`: a frame whose FITS file is in the store."""
    counter = iter(range(1, 1000))

    def make(basename: str | None = None, *, public: bool = True, ra=186.265, dec=12.887, seed=None, **fields):
        number = next(counter)
        basename = basename or f"ogg2m001-ep02-20240501-{number:04d}-e91"
        observed = datetime.datetime(2024, 5, 1, 10, tzinfo=datetime.UTC) + datetime.timedelta(minutes=number)
        public_date = observed if public else datetime.datetime(2099, 1, 1, tzinfo=datetime.UTC)
        frame = FrameFactory(
            version=False, basename=basename, observation_date=observed, public_date=public_date, **fields
        )
        path = make_fits(
            tmp_path / f"{basename}.fits.fz", ra=ra, dec=dec, seed=seed or number, shape=(48, 64), date_obs=observed
        )
        store_version(frame, path.read_bytes())
        return frame

    return make
