"""Create demo users for each role (and, as apps land, their demo data). Idempotent."""
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import User
from apps.accounts.roles import ROLES, roles_sync
from apps.accounts.services import user_create

DEMO_USERS = {role: f"demo-{role}" for role in ROLES}


class Command(BaseCommand):
    help = "Create demo users (one per role) with random passwords, printed once; a second run changes nothing."

    def handle(self, *args, **options):
        if not settings.DEBUG and os.environ.get("PLUMBLINE_ALLOW_DEMO") != "1":
            raise CommandError("seed_demo is for development; set PLUMBLINE_ALLOW_DEMO=1 to run it here anyway")
        roles_sync()
        logins_file = Path(settings.PLUMBLINE_DATA_DIR) / "demo-logins.txt"
        created = []
        for role, username in DEMO_USERS.items():
            if User.objects.filter(username=username).exists():
                continue
            password = secrets.token_urlsafe(12)
            user_create(username=username, password=password, role=role)
            created.append(f"{role:<10} {username:<16} {password}")
        if created:
            logins_file.parent.mkdir(parents=True, exist_ok=True)
            with open(logins_file, "a") as fh:  # local dev convenience so `make run` can show them again
                os.chmod(logins_file, 0o600)
                fh.write("\n".join(created) + "\n")
            self.stdout.write("Demo logins (role, username, password):\n" + "\n".join(created))
        else:
            self.stdout.write("Demo users already exist; nothing changed.")

        from apps.adapters.demo import demo_adapters_seed

        admin = User.objects.get(username=DEMO_USERS["admin"])
        if not demo_adapters_seed(admin=admin, log=self.stdout.write):
            self.stdout.write("Demo adapters already registered; nothing changed.")

        from apps.finance.demo import demo_finance_seed
        from apps.medical.demo import demo_medical_seed

        if not demo_finance_seed(log=self.stdout.write):
            self.stdout.write("Demo finance data already present; nothing changed.")
        if not demo_medical_seed(log=self.stdout.write):
            self.stdout.write("Demo medical data already present; nothing changed.")
