"""Where an object of another app is shown: model label -> URL name of its page.

Each app registers its detail pages in AppConfig.ready(), so the audit trail and the
customer timeline can link to objects without importing the apps that own them.
Given the reader, a link is offered only when their role may open that kind of page
(the permission its view declares, crm_site.permissions): a service agent's timeline
does not link to the sales desk's deal pages, which would answer 403. The object's
own scope stays the page's check.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.contenttypes.models import ContentType
from django.urls import Resolver404, get_script_prefix, resolve, reverse

from crm_site.permissions import has_access

_URL_NAMES: dict[str, str] = {}


def register(model_label: str, url_name: str) -> None:
    _URL_NAMES[model_label.lower()] = url_name


# An id no real row has, reversed once per page type and replaced for each row.
_PLACEHOLDER = 987654321987


def may_open(user, url: str) -> bool:
    """Whether the user's role may open the page at ``url`` (its view's permission
    for GET; a view that declares none is left to its own checks). ``url`` as
    reverse() gives it, the script prefix included when the site is served under
    one."""
    prefix = get_script_prefix()
    path = "/" + url.removeprefix(prefix) if url.startswith(prefix) else url
    try:
        match = resolve(path)
    except Resolver404:
        return True  # not ours to judge: the page answers for itself
    access = getattr(match.func, "access", None)
    needed = access.permission_for("GET") if access is not None else None
    return needed is None or has_access(user, needed)


def url_builder(content_type: ContentType, *, user=None) -> Callable[[int], str] | None:
    """A function from an object id to its page, for lists that link many objects
    of one type (the timeline): the URL is reversed once, not once per row. None
    when there is no such page, or ``user`` may not open it."""
    url_name = _URL_NAMES.get(f"{content_type.app_label}.{content_type.model}")
    if not url_name:
        return None
    sample = reverse(url_name, args=[_PLACEHOLDER])
    if user is not None and not may_open(user, sample):
        return None
    before, after = sample.split(str(_PLACEHOLDER))
    return lambda object_id: f"{before}{object_id}{after}"


def url_for(content_type: ContentType | None, object_id: int | None) -> str | None:
    if content_type is None or object_id is None:
        return None
    url_name = _URL_NAMES.get(f"{content_type.app_label}.{content_type.model}")
    return reverse(url_name, args=[object_id]) if url_name else None
