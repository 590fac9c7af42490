"""Where an object of another app is shown: model label -> URL name of its page.

Each app registers its detail pages in AppConfig.ready(), so the audit trail and the
customer timeline can link to objects without importing the apps that own them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

_URL_NAMES: dict[str, str] = {}


def register(model_label: str, url_name: str) -> None:
    _URL_NAMES[model_label.lower()] = url_name


# An id no real row has, reversed once per page type and replaced for each row.
_PLACEHOLDER = 987654321987


def url_builder(content_type: ContentType) -> Callable[[int], str] | None:
    """A function from an object id to its page, for lists that link many objects
    of one type (the timeline): the URL is reversed once, not once per row."""
    url_name = _URL_NAMES.get(f"{content_type.app_label}.{content_type.model}")
    if not url_name:
        return None
    before, after = reverse(url_name, args=[_PLACEHOLDER]).split(str(_PLACEHOLDER))
    return lambda object_id: f"{before}{object_id}{after}"


def url_for(content_type: ContentType | None, object_id: int | None) -> str | None:
    if content_type is None or object_id is None:
        return None
    url_name = _URL_NAMES.get(f"{content_type.app_label}.{content_type.model}")
    return reverse(url_name, args=[object_id]) if url_name else None
