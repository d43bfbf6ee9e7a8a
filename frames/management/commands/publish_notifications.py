"""`python manage.py publish_notifications [--loop]`: publish the notifications waiting in the outbox."""

import signal
import time

from django.core.management.base import BaseCommand

from frames.notifications import outbox_publish


class Command(BaseCommand):
    help = (
        "Publish waiting post-ingest notifications to the broker, oldest first. Without --loop, every waiting "
        "message is tried once now (backing-off ones included) and the command exits 1 if any remain."
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Keep draining due messages until SIGINT/SIGTERM.")
        parser.add_argument("--interval", type=float, default=10.0, help="Seconds between drains with --loop.")

    def handle(self, *args, loop: bool, interval: float, **options):
        if not loop:
            result = outbox_publish(due_only=False)
            self.stdout.write(f"Published {result['published']} notifications; {result['failed']} failed.")
            if result["failed"]:
                raise SystemExit(1)
            return
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not stopping:
            result = outbox_publish()
            if result["published"] or result["failed"]:
                self.stdout.write(f"Published {result['published']} notifications; {result['failed']} failed.")
            deadline = time.monotonic() + interval
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.2)
