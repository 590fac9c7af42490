"""The sales app's resources of the REST API: inventory (for a project website) and
deals with their stage history.

Read-only. Inventory needs what the sales-control grid and unit pages need
(``sales.view_sales_desk``) and shows what they show: the projects the key's user
sells (``sales.services.sessions.projects_visible_to``), 404 outside them. Deals
are scoped as the sales desk scopes them (``Opportunity.objects.visible_to``: a
consultant's own, a manager's team's).
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from crm_site.api.scopes import Scope
from crm_site.api.views import ApiViewSet
from customers.api import INVALID, PROBLEMS, Ref
from sales.models import Building, Opportunity, Project, StageChange, Unit
from sales.services.sessions import projects_visible_to

ID = {"min_value": 1, "max_value": 2**63 - 1, "required": False}

# ---------------------------------------------------------------------- inventory


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "name", "city", "address", "is_active"]
        read_only_fields = fields


class BuildingSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id")

    class Meta:
        model = Building
        fields = ["id", "project", "name", "floors", "units_per_floor"]
        read_only_fields = fields


class UnitSerializer(serializers.ModelSerializer):
    """A unit as the sales-control grid shows it. The floor price (a consultant's
    negotiating limit) is internal and not part of it."""

    building = serializers.IntegerField(source="building_id")
    project = serializers.IntegerField(source="building.project_id")
    status_label = serializers.CharField(source="get_status_display")
    orientation_label = serializers.CharField(source="get_orientation_display")
    unit_price = serializers.DecimalField(
        max_digits=14,
        decimal_places=0,
        help_text="List price per m² of gross area",
    )

    class Meta:
        model = Unit
        fields = [
            "id",
            "project",
            "building",
            "number",
            "floor",
            "position",
            "layout",
            "gross_area",
            "net_area",
            "orientation",
            "orientation_label",
            "list_price",
            "unit_price",
            "status",
            "status_label",
            "status_changed_at",
        ]
        read_only_fields = fields


class BuildingFilterSerializer(serializers.Serializer):
    project = serializers.IntegerField(**ID, help_text="A project's id")


class UnitFilterSerializer(serializers.Serializer):
    project = serializers.IntegerField(**ID, help_text="A project's id")
    building = serializers.IntegerField(**ID, help_text="A building's id")
    status = serializers.ChoiceField(choices=Unit.Status.choices, required=False)


class InventoryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    required_scopes = Scope.INVENTORY_READ
    # As the sales-control grid and the unit page.
    required_perms = {
        "list": "sales.view_sales_desk",
        "retrieve": "sales.view_sales_desk",
    }


@extend_schema_view(
    list=extend_schema(
        summary="Projects",
        responses={200: ProjectSerializer(many=True), 403: PROBLEMS[403]},
    ),
    retrieve=extend_schema(
        summary="A project", responses={200: ProjectSerializer, **PROBLEMS}
    ),
)
class ProjectViewSet(InventoryViewSet):
    serializer_class = ProjectSerializer

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # the schema's introspection
            return Project.objects.none()
        return projects_visible_to(self.request.user)


@extend_schema_view(
    list=extend_schema(
        summary="Buildings",
        parameters=[BuildingFilterSerializer],
        responses={200: BuildingSerializer(many=True), 403: PROBLEMS[403], **INVALID},
    ),
    retrieve=extend_schema(
        summary="A building", responses={200: BuildingSerializer, **PROBLEMS}
    ),
)
class BuildingViewSet(InventoryViewSet):
    serializer_class = BuildingSerializer

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # the schema's introspection
            return Building.objects.none()
        # As the sales-control grid: only the projects the user sells (a subquery).
        qs = Building.objects.filter(project__in=projects_visible_to(self.request.user))
        if self.action != "list":
            return qs
        if project := self.query(BuildingFilterSerializer).get("project"):
            qs = qs.filter(project_id=project)  # the foreign key's index
        return qs


@extend_schema_view(
    list=extend_schema(
        summary="Units with status and list price",
        parameters=[UnitFilterSerializer],
        responses={200: UnitSerializer(many=True), 403: PROBLEMS[403], **INVALID},
    ),
    retrieve=extend_schema(
        summary="A unit", responses={200: UnitSerializer, **PROBLEMS}
    ),
)
class UnitViewSet(InventoryViewSet):
    serializer_class = UnitSerializer

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # the schema's introspection
            return Unit.objects.none()
        # As the unit page: only the projects the user sells (a subquery).
        qs = Unit.objects.filter(
            building__project__in=projects_visible_to(self.request.user)
        ).select_related("building")
        if self.action != "list":
            return qs
        filters = self.query(UnitFilterSerializer)
        # (building, status) is indexed; a project is a handful of buildings.
        if building := filters.get("building"):
            qs = qs.filter(building_id=building)
        if project := filters.get("project"):
            qs = qs.filter(building__project_id=project)
        if unit_status := filters.get("status"):
            qs = qs.filter(status=unit_status)
        return qs


# -------------------------------------------------------------------------- deals


class StageChangeSerializer(serializers.ModelSerializer):
    from_stage_label = serializers.CharField(source="get_from_stage_display")
    to_stage_label = serializers.CharField(source="get_to_stage_display")
    changed_by = Ref(allow_null=True, help_text="null: moved by the system")
    text = serializers.CharField(
        help_text="Why, in the caller's language: the system's reason or the note"
    )
    event = serializers.CharField()
    params = serializers.DictField()

    class Meta:
        model = StageChange
        fields = [
            "from_stage",
            "from_stage_label",
            "to_stage",
            "to_stage_label",
            "changed_at",
            "changed_by",
            "text",
            "event",
            "params",
        ]
        read_only_fields = fields


class UnitRef(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    building = serializers.IntegerField(source="building_id")


class DealSerializer(serializers.ModelSerializer):
    customer = Ref()
    project = Ref()
    unit = UnitRef(allow_null=True)
    consultant = Ref()
    stage_label = serializers.CharField(source="get_stage_display")
    lost_reason_label = serializers.CharField(source="get_lost_reason_display")
    stage_history = StageChangeSerializer(
        many=True, source="history", help_text="Newest first"
    )

    class Meta:
        model = Opportunity
        fields = [
            "id",
            "customer",
            "project",
            "unit",
            "consultant",
            "stage",
            "stage_label",
            "lost_reason",
            "lost_reason_label",
            "agreed_price",
            "discount_percent",
            "created_at",
            "stage_changed_at",
            "stage_history",
        ]
        read_only_fields = fields


class DealFilterSerializer(serializers.Serializer):
    customer = serializers.IntegerField(**ID, help_text="A customer's id")
    project = serializers.IntegerField(**ID, help_text="A project's id")
    stage = serializers.ChoiceField(choices=Opportunity.Stage.choices, required=False)


@extend_schema_view(
    list=extend_schema(
        summary="Deals within the key's scope",
        parameters=[DealFilterSerializer],
        responses={200: DealSerializer(many=True), 403: PROBLEMS[403], **INVALID},
    ),
    retrieve=extend_schema(
        summary="A deal with its stage history",
        responses={200: DealSerializer, **PROBLEMS},
    ),
)
class DealViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = DealSerializer
    required_scopes = Scope.DEALS_READ
    # As the deal list and the deal page.
    required_perms = {
        "list": "sales.view_sales_desk",
        "retrieve": "sales.view_sales_desk",
    }

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # the schema's introspection
            return Opportunity.objects.none()
        qs = (
            Opportunity.objects.visible_to(self.request.user)
            .select_related("customer", "project", "unit", "consultant")
            .prefetch_related(
                Prefetch(
                    "stage_changes",
                    queryset=StageChange.objects.select_related("changed_by").order_by(
                        "-changed_at", "-id"
                    ),
                    to_attr="history",
                )
            )
        )
        if self.action != "list":
            return qs
        filters = self.query(DealFilterSerializer)
        # Each on an index: (customer, -created_at), (project, stage, …).
        if customer := filters.get("customer"):
            qs = qs.filter(customer_id=customer)
        if project := filters.get("project"):
            qs = qs.filter(project_id=project)
        if stage := filters.get("stage"):
            qs = qs.filter(stage=stage)
        return qs
