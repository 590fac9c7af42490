"""The base classes every API view derives from.

Resources subclass ``ApiViewSet`` (or ``ApiView`` for a plain endpoint) rather than
DRF's own classes, so that what every call must do is done once, here:

- the key's name on the audit trail (``AuditEntry.via``, crm_site.api.context);
- ``Idempotency-Key`` on POST (crm_site.api.idempotency);
- errors as problem details, a Django ``ValidationError`` from a service included
  (crm_site.api.problems); authentication, scopes and the rate limit come from
  REST_FRAMEWORK's defaults.
"""

from __future__ import annotations

from rest_framework import serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.views import APIView

from crm_site.api import context, idempotency
from crm_site.permissions import Perm, has_access


def require_perm(request: Request, perm: Perm) -> None:
    """The permission the UI's page or form needs, for the key's user (403)."""
    if not has_access(request.user, perm):
        raise PermissionDenied


class ApiMixin:
    """What ApiView and ApiViewSet add to DRF's dispatch."""

    _idempotent = None
    _via_token = None
    #: The permission the UI needs for the same page or form, per viewset action
    #: (or HTTP method for an ApiView), checked for the key's user after the scope.
    #: When declared, an action missing from it is refused (403), never opened.
    required_perms: dict[str, Perm] | None = None

    def initial(self, request, *args, **kwargs) -> None:
        # Authentication, scope, permissions and the rate limit first: a refused
        # call neither names a key on the trail nor takes an idempotency key.
        super().initial(request, *args, **kwargs)
        if self.required_perms is not None:
            # Viewsets have an action (None for a method they do not offer: DRF
            # answers 405); a plain ApiView declares per HTTP method.
            action = getattr(self, "action", request.method)
            if action is None:
                return
            perm = self.required_perms.get(action)
            if perm is None:
                raise PermissionDenied
            require_perm(request, perm)
        key = getattr(request, "auth", None)
        name = getattr(key, "name", None)
        if name:
            self._via_token = context.enter(name)
        if request.method == "POST" and key is not None and hasattr(key, "scopes"):
            self._idempotent = idempotency.begin(request, key)

    def query(self, serializer_class: type[serializers.Serializer]) -> dict:
        """The query parameters, validated (422 with field errors)."""
        params = serializer_class(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return params.validated_data

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record, self._idempotent = self._idempotent, None
        if record is not None:
            idempotency.finish(record, response)
        return response

    def dispatch(self, request, *args, **kwargs):
        self._idempotent = self._via_token = None
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            if self._idempotent is not None:
                # The view raised past the exception handler: nothing to store.
                idempotency.abandon(self._idempotent)
                self._idempotent = None
            if self._via_token is not None:
                context.leave(self._via_token)
                self._via_token = None


class ApiView(ApiMixin, APIView):
    """A plain endpoint of the API (not a resource with list and detail)."""


class ApiViewSet(ApiMixin, viewsets.GenericViewSet):
    """A resource of the API; mix in DRF's list/retrieve/create/update mixins."""

    # Ids are numbers: anything else is a 404 at the URL, never a ValueError from
    # the lookup (a resource keyed otherwise sets its own).
    lookup_value_regex = "[0-9]+"
