"""POST /api/v1/telephony/calls/: the telephony system's call events (screen pop).

The switch posts each event of a call as it happens; the call rings at an agent's
extension (customers.AgentExtension), whose open browser shows the caller's card
within a second (customers.telephony). Registered in CustomersConfig.ready().
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from crm_site.api.fields import DateTimeField
from crm_site.api.scopes import Scope
from crm_site.api.views import ApiView
from customers.models import Call
from customers.services import telephony


class UnknownExtension(exceptions.APIException):
    """422: the event is well formed, but no agent has that extension."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "unknown_extension"
    default_detail = _("No agent has this extension.")


class CallEventIn(serializers.Serializer):
    event = serializers.ChoiceField(choices=telephony.EVENTS)
    call_id = serializers.CharField(max_length=100)
    caller = serializers.CharField(
        max_length=40,
        allow_blank=True,
        help_text=_("The caller's number in any format (E.164, national, spaced)."),
    )
    extension = serializers.CharField(max_length=20)
    at = DateTimeField(
        required=False, help_text=_("When the event happened (default: now).")
    )

    def validate_at(self, value):
        # As the interactions API: a little slack for the switch's clock, no more. A
        # call dated years ahead would sit on the timeline there and hold the
        # customer's last contact in the future for good.
        if value > timezone.now() + timedelta(minutes=5):
            raise serializers.ValidationError(_("This time is in the future."))
        return value


class CallOut(serializers.ModelSerializer):
    applied = serializers.BooleanField(
        help_text=_("False when this event of the call had been received before.")
    )

    class Meta:
        model = Call
        fields = [
            "call_id",
            "status",
            "ringing_at",
            "answered_at",
            "ended_at",
            "duration",
            "applied",
        ]


class CallEventView(ApiView):
    required_scopes = Scope.TELEPHONY

    @extend_schema(
        operation_id="telephony_call_event",
        request=CallEventIn,
        responses={
            201: CallOut,
            200: OpenApiResponse(CallOut, description="The event had been received."),
            422: OpenApiResponse(description="No agent has this extension."),
        },
        summary="Post a call event (ringing, answered, ended)",
        description=(
            "The telephony system posts each event of a call as it happens. A "
            "ringing call pops the caller's card on the browser of the agent whose "
            "extension it rings at; an ended call goes on the caller's timeline with "
            "its duration. Each (call_id, event) counts once: sent again it answers "
            "200 with applied=false and changes nothing."
        ),
    )
    def post(self, request):
        # The end of a call is written on the caller's timeline, as a desk would.
        if not request.user.has_perm("customers.change_customer"):
            raise PermissionDenied
        # A switch reports events with vendor fields of its own: they are ignored.
        values = self.body(CallEventIn, strict=False)
        try:
            result = telephony.call_event(
                event=values["event"],
                call_id=values["call_id"],
                caller=values["caller"],
                extension=values["extension"],
                at=values.get("at"),
            )
        except telephony.UnknownExtension as exc:
            raise UnknownExtension() from exc
        except telephony.CallMismatch as exc:
            raise serializers.ValidationError(
                {"extension": [_("This call rang at another extension.")]}
            ) from exc
        call = result.call
        call.applied = result.applied
        return Response(
            CallOut(call).data,
            status=status.HTTP_201_CREATED if result.applied else status.HTTP_200_OK,
        )
