"""Print a user's API token (creating it the first time): `python manage.py api_token USERNAME`.

Use it as `Authorization: Token <key>`; add `X-Workspace: <slug>` when the user belongs to several
workspaces."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Print USERNAME's API token for the read API (created if the user has none)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username}")
        token, _ = Token.objects.get_or_create(user=user)
        if not user.is_active:
            self.stderr.write(f"warning: {username} is inactive; the API refuses this token until they are active")
        self.stdout.write(token.key)
