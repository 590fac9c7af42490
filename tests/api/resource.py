"""A test-only resource on the API's base classes, to test the foundation (keys,
scopes, idempotency, problems, the audit trail's ``via``) before any real resource
exists. Never shipped: only tests/api/urls.py routes it."""

from __future__ import annotations

import threading

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.response import Response

from crm_site.api.problems import Conflict
from crm_site.api.scopes import Scope
from crm_site.api.views import ApiView, ApiViewSet
from crm_site.audit import audit_record
from crm_site.models import AuditEntry, Team

#: Set by a test to hold a create ("slow" name) until released.
gate = threading.Event()
started = threading.Event()


class TeamSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100)


@transaction.atomic
def team_create(*, actor, name: str) -> Team:
    """Stands in for a service: validates, writes, audits (two ways)."""
    if name == "bad":
        raise DjangoValidationError({"name": ["This name is not allowed."]})
    if name == "whole":
        raise DjangoValidationError("The request as a whole is refused.")
    if name == "forbidden":
        raise PermissionDenied
    if name == "boom":
        raise RuntimeError("internal detail: table secret_stuff")
    existing = Team.objects.filter(name=name).first()
    if existing is not None:
        raise Conflict(
            "A team with this name exists.", extra={"existing_id": existing.pk}
        )
    team = Team.objects.create(name=name)
    audit_record(actor=actor, instance=team, action=AuditEntry.Action.CREATE)
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                actor=actor,
                action=AuditEntry.Action.UPDATE,
                content_type=ContentType.objects.get_for_model(Team),
                object_id=team.pk,
                object_repr=str(team),
            )
        ]
    )
    return team


class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = TeamSerializer
    queryset = Team.objects.all()
    required_scopes = {
        "list": Scope.CUSTOMERS_READ,
        "retrieve": Scope.CUSTOMERS_READ,
        "create": Scope.CUSTOMERS_WRITE,
    }

    def get_object(self):
        return get_object_or_404(Team, pk=self.kwargs["pk"])

    def create(self, request):
        serializer = TeamSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = serializer.validated_data["name"]
        if name == "slow":
            started.set()
            gate.wait(10)
        team = team_create(actor=request.user, name=name)
        return Response(TeamSerializer(team).data, status=201)


class PingView(ApiView):
    required_scopes = Scope.TELEPHONY

    @extend_schema(request=None, responses={200: None})
    def post(self, request):
        return Response({"pong": True})
