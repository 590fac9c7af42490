"""The service desk's resources in the REST API (crm_site.api): service requests
recorded from the 400 hotline or WeChat, their steps, and the owners' answers to the
satisfaction surveys.

Every call is the UI's own action, as the key's ``acts_as`` user: the same permission
(403 without it), the same row scope (404 outside it), the same services (atomic and
audited) and the same masking of phone numbers.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crm_site.api.fields import DateTimeField
from crm_site.api.problems import refusal
from crm_site.api.scopes import Scope
from crm_site.api.views import ApiViewSet, require_perm
from crm_site.validation import BIGINT_MAX
from customers.models import Customer
from service import portal_requests, services
from service.forms import AssignForm, CallbackForm, ResolveForm
from service.models import (
    Category,
    Department,
    ServiceRequest,
    ServiceStep,
    Severity,
    SurveyAnswer,
    SurveyResponse,
)
from service.selectors import caller_lookup

# Problems the schema names (bodies are RFC 9457 problem details, crm_site.api.problems).
PROBLEM_403 = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="The key lacks the scope, or its user lacks the UI's permission.",
)
PROBLEM_404 = OpenApiResponse(
    OpenApiTypes.OBJECT, description="Unknown, or outside the user's scope."
)
PROBLEM_409 = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="The request's state forbids this step (for example closing a "
    "request before a satisfied callback).",
)
PROBLEM_422 = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="Bad input: the problem's ``errors`` lists each field and why; "
    "nothing was saved.",
)


def _id_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=BIGINT_MAX, **kwargs)


# Service requests ---------------------------------------------------------------------


class OwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    mobile = serializers.SerializerMethodField(
        help_text="Masked (138****8000) unless the key's user may see full numbers."
    )

    def get_mobile(self, customer: Customer) -> str:
        return customer.mobile_for(self.context["request"].user)


class RequestUnitSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    label = serializers.CharField(source="__str__", read_only=True)


class StepSerializer(serializers.Serializer):
    at = serializers.DateTimeField(read_only=True)
    from_status = serializers.ChoiceField(
        choices=ServiceRequest.Status.choices, read_only=True
    )
    to_status = serializers.ChoiceField(
        choices=ServiceRequest.Status.choices, read_only=True
    )
    department = serializers.CharField(read_only=True)
    actor = serializers.SerializerMethodField()
    event = serializers.CharField(
        read_only=True, help_text="The system's event code (empty: a person's note)."
    )
    text = serializers.CharField(
        read_only=True,
        help_text="The step as the desk reads it, in the caller's language "
        "(Accept-Language).",
    )
    note = serializers.CharField(read_only=True, help_text="What a person wrote.")

    def get_actor(self, step: ServiceStep) -> str | None:
        return step.actor.display_name if step.actor is not None else None


class ServiceRequestSerializer(serializers.ModelSerializer):
    customer = OwnerSerializer(read_only=True)
    unit = RequestUnitSerializer(read_only=True, allow_null=True)
    receiver = serializers.SerializerMethodField(
        help_text="The first receiver, accountable until the callback (首问负责制)."
    )
    overdue = serializers.BooleanField(read_only=True)
    steps = StepSerializer(many=True, read_only=True)

    class Meta:
        model = ServiceRequest
        fields = [
            "id",
            "number",
            "kind",
            "category",
            "severity",
            "channel",
            "status",
            "description",
            "customer",
            "unit",
            "receiver",
            "department",
            "received_at",
            "response_due",
            "resolution_due",
            "responded_at",
            "resolved_at",
            "closed_at",
            "overdue",
            "satisfied",
            "steps",
        ]
        read_only_fields = fields

    def get_receiver(self, item: ServiceRequest) -> str | None:
        return item.receiver.display_name if item.receiver is not None else None


class IntakeResultSerializer(ServiceRequestSerializer):
    registered = serializers.BooleanField(
        read_only=True,
        help_text="The caller was not on record and was registered as a customer.",
    )
    as_enquiry = serializers.BooleanField(
        read_only=True,
        help_text="The caller owns no unit: recorded as an enquiry whatever the kind.",
    )

    class Meta(ServiceRequestSerializer.Meta):
        fields = [*ServiceRequestSerializer.Meta.fields, "registered", "as_enquiry"]
        read_only_fields = fields


#: The channels a call can come in on (a portal request is the owner's own).
INTAKE_CHANNELS = [
    choice
    for choice in ServiceRequest.Channel.choices
    if choice[0] != ServiceRequest.Channel.PORTAL
]


class IntakeSerializer(serializers.Serializer):
    """The staff intake form (service.forms.RequestForm), as JSON."""

    customer = _id_field(
        required=False,
        help_text="The caller's customer id (within the key's user's scope). Or give "
        "``mobile``.",
    )
    mobile = serializers.CharField(
        required=False,
        max_length=100,
        help_text="The caller's full number in any format, as the hotline shows it: "
        "found whatever their consultant (首问负责制), or registered with ``name``.",
    )
    name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="A caller not on record is registered with this name.",
    )
    unit = _id_field(
        required=False,
        allow_null=True,
        help_text="One of the caller's units (their signed deals); a caller with one "
        "unit gets it when none is given.",
    )
    kind = serializers.ChoiceField(choices=ServiceRequest.Kind.choices)
    category = serializers.ChoiceField(choices=Category.choices)
    severity = serializers.ChoiceField(
        choices=Severity.choices, default=Severity.NORMAL
    )
    channel = serializers.ChoiceField(choices=INTAKE_CHANNELS)
    description = serializers.CharField(max_length=4000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("customer")) == bool(attrs.get("mobile", "").strip()):
            raise serializers.ValidationError(
                {"customer": _("Give the caller's customer id or their mobile.")}
            )
        return attrs


STEP_ACTIONS = [
    ("accept", "accept"),
    ("assign", "assign"),
    ("start", "start"),
    ("resolve", "resolve"),
    ("callback", "callback"),
    ("close", "close"),
]


class StepInputSerializer(serializers.Serializer):
    """A step of the desk's workflow, as the request page's buttons take it."""

    action = serializers.ChoiceField(
        choices=STEP_ACTIONS,
        help_text="accept (an owner's portal request), assign (hand to a department: "
        "``department``, ``handler``, ``note``), start, resolve (``note``: what was "
        "done), callback (回访: ``satisfied``, ``note``: what the owner said), close.",
    )
    department = serializers.ChoiceField(
        choices=[c for c in Department.choices if c[0] != Department.CONTRACTOR],
        required=False,
    )
    handler = _id_field(required=False, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=300)
    satisfied = serializers.BooleanField(required=False, allow_null=True)


# Each step's form (the one the request page posts) and its service.
STEP_FORMS = {"assign": AssignForm, "resolve": ResolveForm, "callback": CallbackForm}


def _form_data(data: dict[str, Any]) -> dict[str, Any]:
    form_data = {
        key: value
        for key, value in data.items()
        if value is not None and key != "action"
    }
    if "satisfied" in form_data:
        form_data["satisfied"] = "1" if form_data["satisfied"] else "0"
    return form_data


class RequestFilterSerializer(serializers.Serializer):
    customer = _id_field(required=False)
    status = serializers.ChoiceField(
        choices=ServiceRequest.Status.choices, required=False
    )
    unit = _id_field(required=False)


@extend_schema_view(
    list=extend_schema(
        summary="Service requests",
        parameters=[
            OpenApiParameter("customer", int, description="The owner's customer id."),
            OpenApiParameter(
                "status", str, enum=ServiceRequest.Status.values, description="Status."
            ),
            OpenApiParameter("unit", int, description="The unit's id."),
        ],
        responses={200: ServiceRequestSerializer, 403: PROBLEM_403, 422: PROBLEM_422},
    ),
    retrieve=extend_schema(
        summary="A service request, with its status, deadlines and steps",
        responses={200: ServiceRequestSerializer, 403: PROBLEM_403, 404: PROBLEM_404},
    ),
)
class ServiceRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet
):
    """Owners' complaints and repair requests (one-stop intake, 首问负责制).

    The service desk sees every request; whoever else records requests (a consultant
    taking a call) sees those they received."""

    serializer_class = ServiceRequestSerializer
    queryset = ServiceRequest.objects.none()
    lookup_value_regex = r"\d+"
    required_scopes = {
        "list": Scope.SERVICE_READ,
        "retrieve": Scope.SERVICE_READ,
        "create": Scope.SERVICE_WRITE,
        "steps": Scope.SERVICE_WRITE,
    }

    def get_queryset(self) -> QuerySet[ServiceRequest]:
        if getattr(self, "swagger_fake_view", False):
            return ServiceRequest.objects.none()
        return (
            ServiceRequest.objects.visible_to(self.request.user)
            .select_related("customer", "receiver", "unit__building__project")
            .prefetch_related(
                Prefetch(
                    "steps",
                    queryset=ServiceStep.objects.select_related("actor").order_by(
                        "at", "pk"
                    ),
                )
            )
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        require_perm(request, "service.view_service_request")
        filters = self.query(RequestFilterSerializer)
        items = self.get_queryset()
        # request_customer_idx, request_status_idx and the unit's foreign-key index.
        if "customer" in filters:
            items = items.filter(customer_id=filters["customer"])
        if "status" in filters:
            items = items.filter(status=filters["status"])
        if "unit" in filters:
            items = items.filter(unit_id=filters["unit"])
        page = self.paginate_queryset(items)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        require_perm(request, "service.view_service_request")
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Record a request from a caller (hotline, WeChat …)",
        description="Whoever records it (the key's user) is its first receiver and "
        "stays accountable until the owner is called back (首问负责制). The deadlines "
        "follow the category and severity.",
        request=IntakeSerializer,
        responses={
            201: IntakeResultSerializer,
            403: PROBLEM_403,
            422: PROBLEM_422,
        },
    )
    def create(self, request: Request) -> Response:
        require_perm(request, "service.record_service_request")
        data = self.body(IntakeSerializer)
        user = request.user
        mobile = ""
        if data.get("customer"):
            caller = (
                Customer.objects.visible_to(user).filter(pk=data["customer"]).first()
            )
            if caller is None:
                raise serializers.ValidationError(
                    {"customer": [_("No such customer in your scope.")]}
                )
        else:
            # The intake form's own look-up: a full number finds any caller.
            lookup = caller_lookup(user=user, text=data["mobile"])
            if lookup.mobile is None:
                raise serializers.ValidationError(
                    {"mobile": [_("Type the caller's full mobile number.")]}
                )
            caller, mobile = lookup.picked, lookup.mobile
        unit = None
        if data.get("unit"):
            owned = services.owner_units(caller) if caller is not None else []
            unit = next((u for u in owned if u.pk == data["unit"]), None)
            if unit is None:
                raise serializers.ValidationError(
                    {"unit": [_("Pick one of the caller's units.")]}
                )
        try:
            intake = services.request_intake(
                actor=user,
                caller=caller,
                new_name=data.get("name", ""),
                new_mobile=mobile,
                unit=unit,
                kind=data["kind"],
                category=data["category"],
                severity=data["severity"],
                channel=data["channel"],
                description=data["description"],
            )
        except DjangoValidationError as exc:
            raise refusal(exc) from exc
        item = self.get_queryset().get(pk=intake.request.pk)
        item.registered = intake.registered
        item.as_enquiry = intake.as_enquiry
        body = IntakeResultSerializer(item, context=self.get_serializer_context()).data
        return Response(
            body,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:service-request-detail", args=[item.pk])},
        )

    @extend_schema(
        summary="Take a step on a request (hand over, resolve, call back …)",
        description="The request page's workflow buttons, with their rules: the "
        "callback is the first receiver's (or a service manager's), a request closes "
        "only after a satisfied callback.",
        request=StepInputSerializer,
        responses={
            201: ServiceRequestSerializer,
            403: PROBLEM_403,
            404: PROBLEM_404,
            409: PROBLEM_409,
            422: PROBLEM_422,
        },
    )
    @action(detail=True, methods=["post"], url_path="steps")
    def steps(self, request: Request, pk: str | None = None) -> Response:
        require_perm(request, "service.use_service")
        item = self.get_object()
        data = self.body(StepInputSerializer)
        step = data["action"]
        fields: dict[str, Any] = {}
        form_class = STEP_FORMS.get(step)
        if form_class is not None:
            form = form_class(_form_data(data))
            if not form.is_valid():
                raise serializers.ValidationError(
                    {name: list(errors) for name, errors in form.errors.items()}
                )
            fields = form.cleaned_data
        try:
            if step == "accept":
                portal_requests.request_accept(actor=request.user, request=item)
            elif step == "assign":
                services.request_assign(actor=request.user, request=item, **fields)
            elif step == "start":
                services.request_start(actor=request.user, request=item)
            elif step == "resolve":
                services.request_resolve(actor=request.user, request=item, **fields)
            elif step == "callback":
                services.request_callback(actor=request.user, request=item, **fields)
            else:
                services.request_close(actor=request.user, request=item)
        except DjangoValidationError as exc:
            raise refusal(exc) from exc
        item = self.get_queryset().get(pk=item.pk)
        return Response(self.get_serializer(item).data, status=status.HTTP_201_CREATED)


# Survey results -----------------------------------------------------------------------


class ScoreSerializer(serializers.Serializer):
    question = serializers.CharField(source="question.text", read_only=True)
    position = serializers.IntegerField(source="question.position", read_only=True)
    score = serializers.IntegerField(read_only=True)


class SurveyResultSerializer(serializers.ModelSerializer):
    request = serializers.IntegerField(
        source="invitation.request_id",
        read_only=True,
        allow_null=True,
        help_text="The service request surveyed (empty: a handover survey).",
    )
    handover_appointment = serializers.IntegerField(
        source="invitation.appointment_id", read_only=True, allow_null=True
    )
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    project = serializers.IntegerField(
        source="project_id", read_only=True, allow_null=True
    )
    index = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        read_only=True,
        help_text="The satisfaction index of the answer (0–100, weighted).",
    )
    scores = ScoreSerializer(source="answers", many=True, read_only=True)
    answered_at = serializers.DateTimeField(source="submitted_at", read_only=True)

    class Meta:
        model = SurveyResponse
        fields = [
            "id",
            "request",
            "handover_appointment",
            "customer",
            "project",
            "index",
            "scores",
            "comment",
            "answered_at",
        ]
        read_only_fields = fields


class SurveyFilterSerializer(serializers.Serializer):
    since = DateTimeField(required=False)


@extend_schema_view(
    list=extend_schema(
        summary="Answered satisfaction surveys",
        parameters=[
            OpenApiParameter(
                "since",
                OpenApiTypes.DATETIME,
                description="Answered at or after this time (a date: from its start, "
                "Asia/Shanghai).",
            )
        ],
        responses={200: SurveyResultSerializer, 403: PROBLEM_403, 422: PROBLEM_422},
    ),
    retrieve=extend_schema(
        summary="One answered survey",
        responses={200: SurveyResultSerializer, 403: PROBLEM_403, 404: PROBLEM_404},
    ),
)
class SurveyResultViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """The owners' answers, for the roles that see the survey results page."""

    serializer_class = SurveyResultSerializer
    queryset = SurveyResponse.objects.none()
    lookup_value_regex = r"\d+"
    required_scopes = Scope.SURVEYS_READ

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_perm(request, "service.view_service_management")

    def get_queryset(self) -> QuerySet[SurveyResponse]:
        return SurveyResponse.objects.select_related("invitation").prefetch_related(
            Prefetch(
                "answers",
                queryset=SurveyAnswer.objects.select_related("question").order_by(
                    "question__position", "pk"
                ),
            )
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        filters = self.query(SurveyFilterSerializer)
        answers = self.get_queryset()
        if "since" in filters:
            # survey_response_recent_idx
            answers = answers.filter(submitted_at__gte=filters["since"])
        page = self.paginate_queryset(answers)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
