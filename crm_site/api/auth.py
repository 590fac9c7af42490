"""``Authorization: Bearer anju_…``: the caller is an integration's key."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from crm_site.api.models import ApiKey


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """request.user is the key's ``acts_as`` user, request.auth the key."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(
            "latin-1", "replace"
        )
        if not header:
            return None
        scheme, _sep, raw = header.partition(" ")
        if scheme != self.keyword or not raw.strip():
            raise exceptions.AuthenticationFailed(_("Send the key as: Bearer <key>."))
        parts = ApiKey.split(raw.strip())
        key = None
        if parts is not None:
            key = (
                ApiKey.objects.usable()
                .select_related("acts_as")
                .filter(lookup=parts[0])
                .first()
            )
        if key is None or not key.matches(parts[1]):
            raise exceptions.AuthenticationFailed(_("Unknown or revoked key."))
        return key.acts_as, key

    def authenticate_header(self, request) -> str:
        return self.keyword
