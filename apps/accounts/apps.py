from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        from apps.accounts import signals
        from apps.accounts.roles import sync_roles_after_migrate

        # Groups need the permissions of every app, which exist only after all migrations ran.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="accounts.sync_roles")
        signals.connect()  # tokens end with a password change or deactivation; lockouts are audited
