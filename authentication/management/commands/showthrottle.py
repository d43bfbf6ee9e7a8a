"""`python manage.py showthrottle`: the throttle rates in force, the attempts they refused and each user's count."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management.base import BaseCommand

from authentication.throttling import refused_counts, user_throttle_count, user_throttle_key

BATCH = 500


class Command(BaseCommand):
    help = "Print the throttle rates and the users with requests counted against the user rate."

    def handle(self, *args, **options):
        rates = {
            "anonymous (per address)": settings.THROTTLE_ANON_RATE,
            "user (per user; staff exempt)": settings.THROTTLE_USER_RATE,
            "failed logins per address": settings.THROTTLE_LOGIN_ADDRESS_RATE,
            "failed logins per username": settings.THROTTLE_LOGIN_USERNAME_RATE,
            "rejected bearers per address": settings.THROTTLE_AUTH_FAILURE_RATE,
            "refused portal pushes per address": settings.THROTTLE_AUTH_FAILURE_RATE,
        }
        for name, rate in rates.items():
            self.stdout.write(f"{name}: {rate or 'unlimited'}")
        self.stdout.write("")
        # Only the first of these per address (or username) and window is in the audit log.
        self.stdout.write("Attempts refused while over a rate, in its current window:")
        for name, count in refused_counts().items():
            self.stdout.write(f"  {name}: {count}")
        self.stdout.write("")
        users = get_user_model().objects.filter(is_active=True, is_staff=False).order_by("pk")
        rows = []
        ids = list(users.values_list("pk", "username"))
        # The cache cannot list its keys, so each user's key is asked for, in batches.
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            histories = cache.get_many([user_throttle_key(pk) for pk, _ in batch])
            for pk, username in batch:
                count = user_throttle_count(pk, histories.get(user_throttle_key(pk)))
                if count:
                    rows.append((count, username))
        if not rows:
            self.stdout.write("No user has requests counted against the user rate.")
            return
        for count, username in sorted(rows, reverse=True):
            self.stdout.write(f"{count:>8}  {username}")
