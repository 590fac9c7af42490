"""Marketing's resources in the REST API (crm_site.api): the running campaigns a
website lists, and sign-ups from a campaign's landing page.

Every call is the UI's own action, as the key's ``acts_as`` user: the same permission
(403 without it), the same services (atomic and audited) and the same masking of
phone numbers.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse

from crm_site.api.problems import Conflict
from crm_site.api.scopes import Scope
from crm_site.api.views import ApiViewSet, require_perm
from customers.phones import InvalidPhone, normalize_phone
from marketing.models import Campaign, Response
from marketing.selectors import of_visible_customers
from marketing.services import ResponseRefused
from marketing.services.signups import signup_from_landing

PROBLEM_403 = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="The key lacks the scope, or its user lacks the UI's permission.",
)
PROBLEM_404 = OpenApiResponse(OpenApiTypes.OBJECT, description="No such campaign.")
PROBLEM_409 = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="The campaign does not take sign-ups: it is not running (planned, "
    "finished, cancelled or past its end date), or it is a club event above the "
    "person's level.",
)
PROBLEM_422 = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="Bad input: the problem's ``errors`` lists each field and why; "
    "nothing was saved.",
)

USE = "marketing.use_marketing"
RUN = "marketing.run_campaigns"


class CampaignSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id", read_only=True)
    status = serializers.ChoiceField(
        source="current_status",
        choices=Campaign.Status.choices,
        read_only=True,
        help_text="``finished`` once the end date has passed (the last day included, "
        "in Asia/Shanghai), even before the campaign is recorded as finished.",
    )
    project_name = serializers.CharField(source="project.name", read_only=True)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "kind",
            "status",
            "project",
            "project_name",
            "starts_on",
            "ends_on",
        ]
        read_only_fields = fields


class SignUpSerializer(serializers.ModelSerializer):
    campaign = serializers.IntegerField(source="campaign_id", read_only=True)
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    name = serializers.CharField(source="customer.name", read_only=True)
    mobile = serializers.SerializerMethodField(
        help_text="Masked (138****8000) unless the key's user may see full numbers."
    )
    code = serializers.CharField(
        source="member.code_display",
        read_only=True,
        help_text="The guest's code, typed or scanned at the door to check in.",
    )
    signed_up_at = serializers.DateTimeField(source="at", read_only=True)

    class Meta:
        model = Response
        fields = [
            "id",
            "campaign",
            "customer",
            "name",
            "mobile",
            "code",
            "signed_up_at",
        ]
        read_only_fields = fields

    def get_mobile(self, response: Response) -> str:
        return response.customer.mobile_for(self.context["request"].user)


class SignUpResultSerializer(SignUpSerializer):
    name = serializers.SerializerMethodField(
        help_text="The name as the form sent it: the answer to a landing page never "
        "tells who a number on record belongs to."
    )
    registered = serializers.BooleanField(
        read_only=True, help_text="The mobile was new: a customer was registered."
    )
    created = serializers.BooleanField(
        read_only=True,
        help_text="False when this person had signed up for the campaign already.",
    )
    code = serializers.SerializerMethodField(
        help_text="The guest's door code, given only when this sign-up made them a "
        "guest: null for one who signed up before or was invited (their invitation "
        "carries it). Anyone may type a number into a landing page."
    )

    class Meta(SignUpSerializer.Meta):
        fields = [*SignUpSerializer.Meta.fields, "registered", "created"]
        read_only_fields = fields

    def get_name(self, response: Response) -> str:
        return self.context["typed_name"]

    def get_code(self, response: Response) -> str | None:
        return response.member.code_display if response.joined else None


class SignUpInputSerializer(serializers.Serializer):
    """What a landing page's form sends."""

    name = serializers.CharField(max_length=100)
    mobile = serializers.CharField(
        max_length=30, help_text="A mobile number in any format (138 0013 8000, +86…)."
    )
    consent = serializers.BooleanField(
        help_text="The landing page's box «contact me by SMS and phone», as the "
        "person left it: true records consent given on a web form for a person "
        "registered by this sign-up; a customer already on record keeps what they "
        "agreed to (nothing proves the form was filled by them), as does false."
    )
    source = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="Where the page was opened from (kept on the audit trail).",
    )
    utm_source = serializers.CharField(required=False, allow_blank=True, max_length=100)
    utm_medium = serializers.CharField(required=False, allow_blank=True, max_length=100)
    utm_campaign = serializers.CharField(
        required=False, allow_blank=True, max_length=100
    )

    def validate_name(self, value: str) -> str:
        name = " ".join(value.split())
        if not name:
            raise serializers.ValidationError(_("Enter the name."))
        return name

    def validate_mobile(self, value: str) -> str:
        try:
            return normalize_phone(value, mobile_only=True)
        except InvalidPhone as exc:
            raise serializers.ValidationError(str(exc)) from exc


@extend_schema_view(
    list=extend_schema(
        summary="Running campaigns (for a website)",
        responses={200: CampaignSerializer, 403: PROBLEM_403},
    ),
    retrieve=extend_schema(
        summary="A campaign",
        responses={200: CampaignSerializer, 403: PROBLEM_403, 404: PROBLEM_404},
    ),
)
class CampaignViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Campaigns and their sign-ups. Reading them takes the marketing desk's right
    to see campaigns; signing someone up, the right to run them (as checking a guest
    in at the door does)."""

    serializer_class = CampaignSerializer
    queryset = Campaign.objects.none()
    lookup_value_regex = r"\d+"
    # A landing page's key signs people up; reading the sign-ups (names, numbers,
    # door codes) is another integration's need, and another scope.
    required_scopes = {"GET": Scope.CAMPAIGNS_READ, "POST": Scope.CAMPAIGNS_WRITE}

    def get_queryset(self) -> QuerySet[Campaign]:
        campaigns = Campaign.objects.select_related("project")
        if self.action == "list":
            # campaign_status_idx; not past the end date either
            return campaigns.running()
        return campaigns

    def list(self, request: Request, *args: Any, **kwargs: Any) -> ApiResponse:
        require_perm(request, USE)
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> ApiResponse:
        require_perm(request, USE)
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        methods=["GET"],
        summary="The campaign's sign-ups",
        request=None,
        responses={
            200: SignUpSerializer(many=True),
            403: PROBLEM_403,
            404: PROBLEM_404,
        },
    )
    @extend_schema(
        methods=["POST"],
        summary="Sign a person up from the campaign's landing page",
        description="Finds the person by mobile (never a twin) or registers them, "
        "records the sign-up on their timeline and credits the campaign with the "
        "deals that follow. Signing up twice returns the first sign-up (200).",
        request=SignUpInputSerializer,
        responses={
            200: SignUpResultSerializer,
            201: SignUpResultSerializer,
            403: PROBLEM_403,
            404: PROBLEM_404,
            409: PROBLEM_409,
            422: PROBLEM_422,
        },
    )
    @action(detail=True, methods=["get", "post"], url_path="sign-ups")
    def sign_ups(self, request: Request, pk: str | None = None) -> ApiResponse:
        if request.method == "POST":
            return self._sign_up(request)
        require_perm(request, USE)
        campaign = self.get_object()
        # response_campaign_idx (campaign, kind)
        # Only the customers the key's user may see, as on the campaign's pages.
        responses = of_visible_customers(
            Response.objects.filter(campaign=campaign, kind=Response.Kind.SIGNUP),
            user=request.user,
        ).select_related("customer", "member")
        page = self.paginate_queryset(responses)
        body = SignUpSerializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(body.data)

    def _sign_up(self, request: Request) -> ApiResponse:
        require_perm(request, RUN)
        campaign = self.get_object()
        # A landing page passes on whatever it was given (utm_term, utm_content…):
        # what the sign-up does not take is ignored, never a lost lead.
        data = self.body(SignUpInputSerializer, strict=False)
        try:
            signup = signup_from_landing(
                actor=request.user,
                campaign=campaign,
                name=data["name"],
                mobile=data["mobile"],
                consent=data["consent"],
                source=data.get("source", ""),
                utm={
                    key: data[key]
                    for key in ("utm_source", "utm_medium", "utm_campaign")
                    if data.get(key)
                },
            )
        except ResponseRefused as exc:
            raise Conflict(str(exc)) from exc
        response = (
            Response.objects.select_related("customer", "member")
            .filter(pk=signup.response.pk)
            .get()
        )
        response.registered = signup.registered
        response.created = signup.created
        response.joined = signup.joined
        body = SignUpResultSerializer(
            response,
            context={**self.get_serializer_context(), "typed_name": data["name"]},
        )
        return ApiResponse(
            body.data,
            status=status.HTTP_201_CREATED if signup.created else status.HTTP_200_OK,
        )
