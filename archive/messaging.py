"""The one client of the message broker: persistent messages on fanout exchanges, confirmed by the broker."""

import json
import logging
import threading
import time

from django.conf import settings
from kombu import Connection, Exchange, Producer

logger = logging.getLogger(__name__)

# After a failure, after-commit publications (the outbox relay's) are skipped this long: a dead broker costs them at
# most one timeout per this period per process. The background drain is not subject to it.
CIRCUIT_OPEN_SECONDS = 30


class PublishFailed(Exception):
    """The broker could not be reached or did not confirm the message."""


class Publisher:
    """One connection per process, made on first use and re-made after any failure."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._producers: dict[str, Producer] = {}
        self._circuit_open_until = 0.0

    @property
    def circuit_open(self) -> bool:
        return time.monotonic() < self._circuit_open_until

    def _connect(self) -> Connection:
        if self._connection is None:
            timeout = settings.NOTIFICATION_CONNECT_TIMEOUT_SECONDS
            connection = Connection(
                settings.QUEUE_BROKER_URL,
                connect_timeout=timeout,
                transport_options={"confirm_publish": True},
            )
            connection.ensure_connection(max_retries=1, timeout=timeout)
            self._connection = connection
        return self._connection

    def _reset(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # a broken connection may fail to close; it is dropped either way
                logger.debug("Closing a failed broker connection failed", exc_info=True)
        self._connection = None
        self._producers.clear()

    def publish(self, *, exchange: str, payload: dict, message_id: str) -> None:
        """Publish one persistent JSON message and wait for the broker's confirmation."""
        body = json.dumps(payload)
        with self._lock:
            try:
                connection = self._connect()
                producer = self._producers.get(exchange)
                if producer is None:
                    target = Exchange(exchange, type="fanout", durable=True)
                    producer = Producer(connection.default_channel, exchange=target)
                    target(connection.default_channel).declare()
                    self._producers[exchange] = producer
                producer.publish(
                    body,
                    routing_key="",
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                    message_id=message_id,
                    retry=False,
                    timeout=settings.NOTIFICATION_CONNECT_TIMEOUT_SECONDS,
                    confirm_timeout=settings.NOTIFICATION_CONNECT_TIMEOUT_SECONDS,
                )
            except Exception as exc:  # kombu and py-amqp raise many kinds; all mean "not delivered"
                self._reset()
                self._circuit_open_until = time.monotonic() + CIRCUIT_OPEN_SECONDS
                raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc
            self._circuit_open_until = 0.0

    def check(self) -> dict:
        """Whether the broker answers, without publishing anything."""
        if settings.QUEUE_BROKER_URL.startswith("memory://"):
            return {"ok": True, "broker": "in-memory"}
        with self._lock:
            try:
                self._connect()
                return {"ok": True}
            except Exception as exc:  # reported as a state, never raised
                self._reset()
                return {"ok": False, "error": type(exc).__name__}


_publisher: Publisher | None = None
_publisher_lock = threading.Lock()


def get_publisher() -> Publisher:
    global _publisher
    if _publisher is None:
        with _publisher_lock:
            if _publisher is None:
                _publisher = Publisher()
    return _publisher


def reset_publisher() -> None:
    """Forget the per-process publisher (tests that change the broker)."""
    global _publisher
    with _publisher_lock:
        if _publisher is not None:
            _publisher._reset()
        _publisher = None
