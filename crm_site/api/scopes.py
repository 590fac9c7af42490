"""What an integration's key may do: its scopes.

A key acts with the visibility, masking and permissions of the user it acts as
(``ApiKey.acts_as``); its scopes narrow that further to the resources the integration
needs. Both are checked on every call: the scope here, the user's permissions and row
scope in the view, exactly as the UI checks them.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission


class Scope(models.TextChoices):
    CUSTOMERS_READ = "customers:read", _("Read customers")
    CUSTOMERS_WRITE = "customers:write", _("Create and update customers")
    INTERACTIONS_WRITE = "interactions:write", _("Log interactions")
    INVENTORY_READ = "inventory:read", _("Read inventory (projects, buildings, units)")
    DEALS_READ = "deals:read", _("Read deals and their stage history")
    SERVICE_READ = "service:read", _("Read service requests")
    SERVICE_WRITE = "service:write", _("Create service requests and add steps")
    CAMPAIGNS_READ = "campaigns:read", _("Read campaigns and their sign-ups")
    CAMPAIGNS_WRITE = "campaigns:write", _("Sign people up for campaigns")
    SURVEYS_READ = "surveys:read", _("Read survey results")
    WEBHOOKS = "webhooks", _("Receive webhooks")
    TELEPHONY = "telephony", _("Post call events (screen pop)")


class HasScope(BasePermission):
    """The view's ``required_scopes`` (a scope, or a dict of action or method → scope)
    must be among the key's scopes; 403 otherwise. A view that names none is refused,
    so a forgotten declaration closes the door instead of opening it."""

    message = _("This key does not have the scope this call needs.")

    def has_permission(self, request, view) -> bool:
        key = getattr(request, "auth", None)
        if key is None or not hasattr(key, "scopes"):
            return False
        needed = required_scope(view, request)
        return needed is not None and needed in key.scopes


def required_scope(view, request) -> str | None:
    declared = getattr(view, "required_scopes", None)
    if isinstance(declared, dict):
        action = getattr(view, "action", None)
        return declared.get(action) or declared.get(request.method)
    return declared
