"""`python manage.py ensure_local_superuser`: the embedded default's superuser, made once, its token printed."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create the local superuser if there is none, and print its API token."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Where the archive is served, for the hint.")

    def handle(self, *args, username: str, url: str, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(f"Created superuser {username!r} with password {password!r} (shown once).")
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(f"Superuser {username!r} API token: {token.key}")
        self.stdout.write(f"  curl -H 'Authorization: Token {token.key}' {url.rstrip('/')}/frames/")
