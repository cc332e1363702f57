from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_role_groups(**kwargs) -> None:
    from geoloc_platform.accounts.services import role_groups_ensure

    role_groups_ensure()


class AccountsConfig(AppConfig):
    name = "geoloc_platform.accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_login_failed

        from geoloc_platform.accounts.address_lockout import login_failed_count_address
        from geoloc_platform.cache_setup import cache_tables_create

        post_migrate.connect(_ensure_role_groups, dispatch_uid="accounts_role_groups")
        post_migrate.connect(cache_tables_create, sender=self, dispatch_uid="accounts_cache_tables")
        user_login_failed.connect(login_failed_count_address, dispatch_uid="accounts_address_lockout")
