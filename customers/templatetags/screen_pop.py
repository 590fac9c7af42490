"""``{% screen_pop_extension as ext %}``: the signed-in agent's extension, for the
base template to open the screen-pop stream (cached: no query on a page);
``{% screen_pop_stream_url %}``: where the page opens it."""

from __future__ import annotations

from django import template
from django.urls import reverse

from crm_site import live
from customers.telephony import extension_of

register = template.Library()


@register.simple_tag(takes_context=True)
def screen_pop_extension(context) -> str:
    request = context.get("request")
    user = getattr(request, "user", None)
    if (
        request is None
        or user is None
        or not user.is_authenticated
        or getattr(request, "owner_session", None) is not None
    ):
        return ""
    return extension_of(user)


@register.simple_tag
def screen_pop_stream_url() -> str:
    """The stream on the event-stream server when there is one (crm_site.live_server:
    an open stream there costs no page-server thread), else on this server."""
    return live.events_url(reverse("customers:screen-pop-stream"))
