"""Deployment checks of our own settings (``manage.py check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def id_number_hash_key_check(app_configs=None, **kwargs) -> list[Error]:
    key = settings.ID_NUMBER_HASH_KEY
    if key == settings.SECRET_KEY or key.startswith("insecure-development"):
        return [
            Error(
                "ID_NUMBER_HASH_KEY must be its own random value, not the secret key "
                "or the development key.",
                id="crm_site.E001",
            )
        ]
    return []
