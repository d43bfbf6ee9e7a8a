"""Post-ingest notifications on a real RabbitMQ: one persistent message per ingest, none lost in a broker outage."""

import json
import threading
import time
import uuid
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from kombu import Connection, Exchange, Queue

from frames.models import OutboxMessage
from frames.notifications import outbox_relay
from frames.tests.factories import ingest_body

pytestmark = pytest.mark.django_db(transaction=True)

ARCHIVE_KEYS = {"area", "basename", "version_set", "filename", "frameid"}


@pytest.fixture
def consumer(broker, settings):
    """A durable queue bound to the notification exchange, as a pipeline binds one; it survives broker restarts.
    `drain(n)` reconnects and returns what arrived."""
    exchange = Exchange(settings.PROCESSED_EXCHANGE_NAME, type="fanout", durable=True)
    queue = Queue(f"pipeline-{uuid.uuid4().hex[:8]}", exchange=exchange, durable=True)
    with Connection(broker.url) as connection:
        queue(connection.default_channel).declare()

    def drain(expected: int, timeout: float = 20) -> list:
        messages = []
        with Connection(broker.url) as connection:
            bound = queue(connection.default_channel)
            deadline = time.monotonic() + timeout
            while len(messages) < expected and time.monotonic() < deadline:
                message = bound.get(no_ack=True)
                if message is None:
                    time.sleep(0.05)
                    continue
                messages.append(message)
            time.sleep(0.2)
            while (extra := bound.get(no_ack=True)) is not None:
                messages.append(extra)
        return messages

    yield drain
    with Connection(broker.url) as connection:
        queue(connection.default_channel).delete()


def post(client, body):
    return client.post("/frames/", json.dumps(body), content_type="application/json")


def relay_done() -> None:
    """The relay publishes after the answer, and deletes the row after the broker's confirmation: wait for both."""
    assert outbox_relay.wait_idle(timeout=20)


def test_one_message_per_ingest_with_the_payload_of_the_spec(superuser_client, consumer):
    body = ingest_body()
    response = post(superuser_client, body)
    assert response.status_code == 201
    frame_id = response.json()["id"]
    (message,) = consumer(1)
    payload = json.loads(message.body)
    assert set(payload) == set(body["headers"]) | ARCHIVE_KEYS
    assert payload["frameid"] == frame_id
    assert payload["basename"] == body["basename"]
    assert payload["filename"] == body["basename"] + ".fits.fz"
    assert payload["version_set"] == body["version_set"]
    assert payload["area"] == json.dumps(body["area"])
    assert payload["OBJECT"] == "M84"
    assert message.content_type == "application/json"
    assert message.content_encoding == "utf-8"
    assert message.delivery_info["routing_key"] == ""
    assert message.properties["delivery_mode"] == 2
    assert message.properties["message_id"] == f"{frame_id}-{body['version_set'][0]['md5']}"
    relay_done()
    assert not OutboxMessage.objects.exists()


def test_archive_keys_override_header_keywords_and_area_may_be_null(superuser_client, consumer):
    body = ingest_body(area=None, headers={"basename": "from-header", "frameid": -1, "OBJECT": "M1"})
    frame_id = post(superuser_client, body).json()["id"]
    payload = json.loads(consumer(1)[0].body)
    assert payload["basename"] == body["basename"]
    assert payload["frameid"] == frame_id
    assert payload["area"] is None


def test_no_message_for_replays_bad_input_thumbnails_or_when_disabled(superuser_client, consumer, settings):
    body = ingest_body()
    assert post(superuser_client, body).status_code == 201
    assert post(superuser_client, body).status_code == 201  # replay
    assert post(superuser_client, ingest_body("bad", observation_date="iamnotadate")).status_code == 400
    thumbnail = ingest_body("thumb-small", frame_basename="thumb", size="small", area=None)
    thumbnail["version_set"][0]["extension"] = ".jpg"
    assert (
        superuser_client.post("/thumbnails/", json.dumps(thumbnail), content_type="application/json").status_code == 201
    )
    settings.PROCESSED_EXCHANGE_ENABLED = False
    assert post(superuser_client, ingest_body("disabled")).status_code == 201
    assert len(consumer(1)) == 1
    # The thumbnail's parent gets its notification when the frame itself is posted.
    settings.PROCESSED_EXCHANGE_ENABLED = True
    assert post(superuser_client, ingest_body("thumb")).status_code == 201
    assert [json.loads(m.body)["basename"] for m in consumer(1)] == ["thumb"]


def test_a_broker_outage_loses_nothing(superuser_client, broker, consumer):
    broker.stop()
    try:
        started = time.monotonic()
        statuses = [post(superuser_client, ingest_body(f"outage-{i:02d}")).status_code for i in range(50)]
        relay_done()
        elapsed = time.monotonic() - started
        assert statuses == [201] * 50
        assert OutboxMessage.objects.count() == 50
        # The circuit spares the relay after a failure the broker's timeout: one attempt per 30 s at most.
        failed = OutboxMessage.objects.filter(attempts__gt=0)
        assert 1 <= failed.count() <= 1 + int(elapsed // 30)
        assert all(message.last_error for message in failed)
    finally:
        broker.start()
    call_command("publish_notifications")
    messages = consumer(50)
    assert sorted(json.loads(m.body)["basename"] for m in messages) == [f"outage-{i:02d}" for i in range(50)]
    assert not OutboxMessage.objects.exists()


def test_the_drain_backs_off_on_failure_and_publishes_due_messages_in_order(superuser_client, broker, consumer):
    from frames.notifications import outbox_publish

    broker.stop()
    try:
        for i in range(3):
            post(superuser_client, ingest_body(f"queued-{i}"))
        relay_done()
        OutboxMessage.objects.update(next_attempt_at="2000-01-01T00:00:00Z", attempts=4)
        assert outbox_publish() == {"published": 0, "failed": 1}
        first, *others = OutboxMessage.objects.order_by("id")
        assert first.attempts == 5 and first.last_error
        assert first.next_attempt_at.year > 2000  # backing off: 2^5 s after the failure
        assert all(message.attempts == 4 for message in others)  # not tried after the first failure
    finally:
        broker.start()
    assert outbox_publish() == {"published": 2, "failed": 0}  # the backing-off one waits
    assert [json.loads(m.body)["basename"] for m in consumer(2)] == ["queued-1", "queued-2"]
    assert outbox_publish(due_only=False) == {"published": 1, "failed": 0}  # on demand, it goes too
    assert [json.loads(m.body)["basename"] for m in consumer(1)] == ["queued-0"]
    assert not OutboxMessage.objects.exists()


@pytest.fixture
def held_publisher(monkeypatch):
    """The real publisher, held back until `release` is set; `batches` records what the relay hands over."""
    from archive.messaging import Publisher
    from frames import notifications

    release, entered = threading.Event(), threading.Event()
    batches: list[int] = []
    publish, publish_batch = Publisher.publish, notifications.outbox_publish_batch

    def held(self, **kwargs):
        entered.set()
        assert release.wait(20)
        publish(self, **kwargs)

    def recorded(*, messages):
        batches.append(len(messages))
        return publish_batch(messages=messages)

    monkeypatch.setattr(Publisher, "publish", held)
    monkeypatch.setattr(notifications, "outbox_publish_batch", recorded)
    return SimpleNamespace(release=release, entered=entered, batches=batches)


def test_the_answer_does_not_wait_for_the_broker(superuser_client, consumer, held_publisher):
    body = ingest_body()
    response = post(superuser_client, body)  # answered while the publication is held back
    assert response.status_code == 201
    assert held_publisher.entered.wait(10)
    (row,) = OutboxMessage.objects.all()  # kept until the broker confirms
    assert row.message_id == f"{response.json()['id']}-{body['version_set'][0]['md5']}" and row.attempts == 0
    held_publisher.release.set()
    relay_done()
    assert [json.loads(m.body)["frameid"] for m in consumer(1)] == [response.json()["id"]]
    assert not OutboxMessage.objects.exists()


def test_notifications_committed_meanwhile_go_in_one_batch(superuser_client, consumer, held_publisher):
    assert post(superuser_client, ingest_body("batch-0")).status_code == 201
    assert held_publisher.entered.wait(10)  # the relay is publishing the first one
    for i in range(1, 5):
        assert post(superuser_client, ingest_body(f"batch-{i}")).status_code == 201
    held_publisher.release.set()
    relay_done()
    assert held_publisher.batches == [1, 4]  # one DELETE for the four
    assert sorted(json.loads(m.body)["basename"] for m in consumer(5)) == [f"batch-{i}" for i in range(5)]
    assert not OutboxMessage.objects.exists()


def test_a_full_relay_leaves_the_notification_to_the_drain(superuser_client, consumer, monkeypatch, caplog):
    monkeypatch.setattr(outbox_relay, "max_queued", 0)
    response = post(superuser_client, ingest_body())
    assert response.status_code == 201
    assert "notification" in caplog.text and "left to the drain" in caplog.text
    (row,) = OutboxMessage.objects.all()
    assert row.attempts == 0 and row.next_attempt_at > row.created  # due after the grace period
    assert consumer(0, timeout=0.5) == []
    call_command("publish_notifications")  # the drain, on demand
    assert [json.loads(m.body)["frameid"] for m in consumer(1)] == [response.json()["id"]]
    assert not OutboxMessage.objects.exists()


def test_stopping_the_relay_publishes_what_is_queued(superuser_client, consumer, held_publisher):
    """What a process does at exit (atexit): the relay finishes its queue before the thread ends."""
    for i in range(3):
        assert post(superuser_client, ingest_body(f"exit-{i}")).status_code == 201
    threading.Timer(0.2, held_publisher.release.set).start()
    assert outbox_relay.stop(timeout=20)
    assert not outbox_relay.running
    assert not OutboxMessage.objects.exists()
    assert len(consumer(3)) == 3


def test_an_ingest_commits_once_on_the_requests_connection(superuser_client, broker):
    with CaptureQueriesContext(connection) as queries:
        assert post(superuser_client, ingest_body()).status_code == 201
    relay_done()
    statements = [query["sql"] for query in queries.captured_queries]
    assert statements.count("COMMIT") == 1
    # Token, BEGIN, six statements, COMMIT (a known frame adds its upsert); the relay's delete has its own connection.
    assert len(statements) == 9
    assert not OutboxMessage.objects.exists()
