"""Post-ingest notifications on a real RabbitMQ: one persistent message per ingest, none lost in a broker outage."""

import json
import time
import uuid

import pytest
from django.core.management import call_command
from kombu import Connection, Exchange, Queue

from frames.models import OutboxMessage
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
        elapsed = time.monotonic() - started
        assert statuses == [201] * 50
        assert OutboxMessage.objects.count() == 50
        # The circuit spares the ingests after a failure the broker's timeout: one inline attempt per 30 s at most.
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
    from frames.services import outbox_publish

    broker.stop()
    try:
        for i in range(3):
            post(superuser_client, ingest_body(f"queued-{i}"))
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
