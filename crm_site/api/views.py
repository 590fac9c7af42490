"""The base classes every API view derives from.

Resources subclass ``ApiViewSet`` (or ``ApiView`` for a plain endpoint) rather than
DRF's own classes, so that what every call must do is done once, here:

- the key's name on the audit trail (``AuditEntry.via``, crm_site.api.context);
- ``Idempotency-Key`` on POST (crm_site.api.idempotency): the view runs in the
  transaction that stores its answer;
- bodies read as JSON (crm_site.api.parsers), and a key the call does not take
  refused by name (``body``) rather than ignored;
- errors as problem details, a Django ``ValidationError`` from a service included
  (crm_site.api.problems); authentication, scopes and the rate limit come from
  REST_FRAMEWORK's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.views import APIView

from crm_site.api import context, idempotency
from crm_site.api.parsers import JSONParser
from crm_site.permissions import Perm, has_access


def require_perm(request: Request, perm: Perm) -> None:
    """The permission the UI's page or form needs, for the key's user (403)."""
    if not has_access(request.user, perm):
        raise PermissionDenied


class ApiMixin:
    """What ApiView and ApiViewSet add to DRF's dispatch."""

    _idempotent = None
    _hold = None
    _via_token = None
    parser_classes = [JSONParser]
    #: The error on a body's key that the call does not take.
    not_taken_message = _("This call does not take this field.")
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
            record = idempotency.begin(request, key)
            if record is not None:
                # Raises (409, or the replay) when another request holds the row.
                self._hold = idempotency.Hold(record)
                self._idempotent = record

    def query(self, serializer_class: type[serializers.Serializer]) -> dict:
        """The query parameters, validated (422 with field errors)."""
        params = serializer_class(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return params.validated_data

    def body(
        self,
        serializer_class: type[serializers.Serializer],
        *,
        strict: bool = True,
        **kwargs,
    ) -> dict:
        """The request body, validated (422 with field errors). A key the call does
        not take (unknown, read-only, or a typo) is an error naming it, never
        silently ignored: the caller would believe the change was made. ``strict``
        False: a machine's event (a phone switch's) may carry fields of its own."""
        data = self.request.data
        serializer = serializer_class(data=data, **kwargs)
        taken = {
            name for name, field in serializer.fields.items() if not field.read_only
        }
        errors: dict = {}
        if strict and isinstance(data, Mapping):
            errors = {key: [self.not_taken_message] for key in data if key not in taken}
        if not serializer.is_valid() or errors:
            raise serializers.ValidationError({**serializer.errors, **errors})
        return serializer.validated_data

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        hold, self._hold = self._hold, None
        if hold is not None:
            # The answer is stored and committed with the view's work, or neither.
            hold.close(response)
            record, self._idempotent = self._idempotent, None
            idempotency.finish(record, response)
        return response

    def dispatch(self, request, *args, **kwargs):
        self._idempotent = self._via_token = None
        self._hold = None
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            if self._hold is not None:
                # The view raised past the exception handler: nothing it did stays.
                self._hold.abort()
                self._hold = None
            if self._idempotent is not None:
                # Nothing to store: a retry runs afresh.
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
