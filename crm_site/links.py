"""Where an object of another app is shown: model label -> URL name of its page.

Each app registers its detail pages in AppConfig.ready(), so the audit trail and the
customer timeline can link to objects without importing the apps that own them.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

_URL_NAMES: dict[str, str] = {}


def register(model_label: str, url_name: str) -> None:
    _URL_NAMES[model_label.lower()] = url_name


def url_for(content_type: ContentType | None, object_id: int | None) -> str | None:
    if content_type is None or object_id is None:
        return None
    url_name = _URL_NAMES.get(f"{content_type.app_label}.{content_type.model}")
    return reverse(url_name, args=[object_id]) if url_name else None
