"""The cache on a real memcached, the reader-replica router, and the health check's view of each dependency."""

import pytest
from django.core.cache import cache
from django.core.management import call_command

from archive.cachesettings import memcached_caches
from archive.health import forget_remote_checks
from archive.routers import ReaderRouter
from frames import selectors
from frames.models import Frame, Version
from frames.tests.factories import FrameFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def memcached(settings, memcached_server):
    settings.CACHES = memcached_caches(memcached_server)
    cache.clear()
    yield memcached_server
    cache.clear()


def test_the_aggregate_cache_works_through_memcached(memcached, api_client):
    from pymemcache.client.base import Client

    FrameFactory(site_id="ogg")
    call_command("cacheaggregates")
    raw = Client(tuple(memcached.rsplit(":", 1)), timeout=1)
    stored_keys = raw.stats("items")  # the aggregate is an item of the real server
    assert any(key.endswith(b":number") and int(value) > 0 for key, value in stored_keys.items())
    Frame.objects.all().delete()
    from frames.models import AggregateSnapshot

    AggregateSnapshot.objects.all().delete()
    response = api_client.get("/frames/aggregate/")
    assert response.status_code == 200
    assert response.json()["sites"] == ["ogg"]  # served from memcached, not the (now empty) database


def test_a_dead_memcached_degrades_to_misses(settings, api_client):
    from conftest import free_port

    settings.CACHES = memcached_caches(f"127.0.0.1:{free_port()}", connect_timeout=0.5, timeout=0.5)
    FrameFactory(site_id="coj")
    response = api_client.get("/frames/aggregate/")
    assert response.status_code == 200
    assert response.json()["sites"] == ["coj"]


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
class TestReaderRouter:
    def test_without_a_replica_everything_uses_the_writer(self):
        assert ReaderRouter().db_for_read(Frame) == "default"
        assert Frame.objects.all().db == "default"

    def test_reads_go_to_the_reader_and_writes_to_the_writer(self, settings, superuser):
        settings.DATABASES = {**settings.DATABASES, "reader": {**settings.DATABASES["default"]}}
        router = ReaderRouter()
        assert router.db_for_read(Frame) == "reader"
        assert router.db_for_write(Frame) == "default"
        assert Frame.objects.all().db == "reader"
        assert router.allow_migrate("reader", "frames") is False
        assert router.allow_migrate("default", "frames") is True

    def test_the_ingesters_md5_check_reads_the_writer(self, settings, superuser):
        settings.DATABASES = {**settings.DATABASES, "reader": {**settings.DATABASES["default"]}}
        queryset = selectors.version_list(user=superuser, params={})
        assert queryset.db == "default"
        assert Version.objects.all().db == "reader"


class TestHealth:
    @pytest.fixture(autouse=True)
    def fresh_checks(self):
        forget_remote_checks()
        yield
        forget_remote_checks()

    def test_every_dependency_is_reported(self, api_client):
        response = api_client.get("/health/")
        assert response.status_code == 200
        checks = response.json()["checks"]
        assert set(checks) == {"database", "filestore", "broker", "cache", "portal"}
        assert checks["portal"] == {"state": "disabled"}
        assert checks["database"] == {"ok": True}
        assert checks["filestore"]["ok"] is True and checks["filestore"]["type"] == "local"
        assert checks["broker"] == {"ok": True, "broker": "in-memory"}
        assert checks["cache"] == {"ok": True}

    def test_a_real_broker_and_s3_are_checked(self, api_client, broker, s3_bucket):
        checks = api_client.get("/health/").json()["checks"]
        assert checks["broker"] == {"ok": True}
        assert checks["filestore"] == {"ok": True, "type": "s3", "versioning": True}

    def test_a_dead_broker_is_reported_but_the_archive_stays_up(self, api_client, settings):
        from archive.messaging import reset_publisher
        from conftest import free_port

        settings.QUEUE_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
        settings.NOTIFICATION_CONNECT_TIMEOUT_SECONDS = 1
        reset_publisher()
        try:
            response = api_client.get("/health/")
        finally:
            reset_publisher()
        assert response.status_code == 200
        assert response.json()["checks"]["broker"]["ok"] is False

    def test_a_dead_database_is_a_503(self, api_client, monkeypatch):
        import archive.health

        monkeypatch.setattr(archive.health, "_database", lambda: {"ok": False, "error": "database unreachable"})
        response = api_client.get("/health/")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
