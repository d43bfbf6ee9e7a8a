"""`python manage.py rotate_api_tokens --user NAME | --all`: replace local API tokens (incident response)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from authentication import services
from authentication.models import AuthEvent


class Command(BaseCommand):
    help = "Replace the local API token of one user (--user) or of every user (--all); each rotation is audited."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--user", dest="username", help="The username whose token to rotate")
        group.add_argument("--all", action="store_true", help="Rotate every user's token")

    def handle(self, *args, username=None, all=False, **options):
        users = get_user_model().objects.order_by("pk")
        if username is not None:
            users = users.filter(username=username)
            if not users.exists():
                raise CommandError(f"No user named {username!r}.")
        count = 0
        for user in users.iterator():
            services.token_rotate(user=user, method=AuthEvent.Method.TASK)
            count += 1
        self.stdout.write(f"Rotated {count} API token(s).")
