"""`python manage.py revalidate_portal_users`: recheck every portal user's token at the portal now."""

from django.core.management.base import BaseCommand

from authentication import services


class Command(BaseCommand):
    help = (
        "Ask the portal about every portal-linked user with a portal token: refresh proposals and flags, deactivate "
        "users the portal refuses, reactivate those it accepts again."
    )

    def handle(self, *args, **options):
        count = services.portal_users_revalidate()
        self.stdout.write(f"Revalidated {count} portal user(s).")
