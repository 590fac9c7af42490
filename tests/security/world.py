"""One of every object of every app, and the people who work on them.

The URL crawl (test_crawl.py) and the fuzz pass build this world once and ask it for
the ids a URL pattern needs:

    world = build_world()
    world.user("executive")                        # a persona, None for "anonymous"
    world.kwargs_for("sales:opportunity-detail", ["pk"])            # {"pk": 12}
    world.kwargs_for("sales:opportunity-detail", ["pk"], far=True)  # another team's

Objects come in two sides. The near side belongs to the first sales team (the
consultant's customers and deals, the partner of the broker); the far side belongs to
a consultant of another team, to a customer who gave no marketing consent and to
another channel partner, so that everyone but the executive and the administrator
is outside its scope there.

The API (build_world, World.user, World.obj, World.kwargs_for, PERSONAS, PK_OF) is
shared with other tests: extend it, do not change what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.db.models import Model
from django.utils import timezone

from crm_site.models import Notification, User
from crm_site.roles import Role
from tests.factories import CustomerFactory, TeamFactory, UserFactory, make_building

# A 1×1 PNG: stored photos and QR-like files need real bytes, not their content.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)

#: Every persona the crawl logs in as, with its role (None: logged in, no role).
PERSONAS: dict[str, Role | None] = {
    "consultant": Role.CONSULTANT,
    "other_consultant": Role.CONSULTANT,
    "far_consultant": Role.CONSULTANT,
    "sales_manager": Role.SALES_MANAGER,
    "service_agent": Role.SERVICE_AGENT,
    "service_manager": Role.SERVICE_MANAGER,
    "marketer": Role.MARKETING,
    "executive": Role.EXECUTIVE,
    "administrator": Role.ADMINISTRATOR,
    "broker": Role.CHANNEL_PARTNER,
    "outsider": None,
}

#: What the ``pk`` (and other id) kwargs of each URL name stand for: world object keys.
PK_OF: dict[str, dict[str, str]] = {
    # crm_site
    "notification-open": {"pk": "notification"},
    # customers
    "outbox-send-again": {"pk": "parked_invitation"},
    "outbox-mark-sent": {"pk": "parked_invitation"},
    # customers
    "customers:personal-data": {"pk": "customer"},
    "customers:personal-data-export": {"pk": "customer"},
    "customers:personal-data-anonymise": {"pk": "customer"},
    "customers:customer-detail": {"pk": "customer"},
    "customers:customer-edit": {"pk": "customer"},
    "customers:customer-timeline": {"pk": "customer"},
    "customers:customer-history": {"pk": "customer"},
    "customers:customer-panels": {"pk": "customer"},
    "customers:customer-consents": {"pk": "customer"},
    "customers:interaction-create": {"pk": "customer"},
    "customers:contact-point-create": {"pk": "customer"},
    "customers:contact-point-delete": {"pk": "customer", "point_pk": "contact_point"},
    "customers:consent-update": {"pk": "customer"},
    "customers:contact-reveal": {"pk": "customer"},
    "customers:household-link": {"pk": "customer"},
    "customers:saved-filter-delete": {"filter_pk": "saved_filter"},
    "customers:import-detail": {"job_pk": "import_job"},
    "customers:import-progress": {"job_pk": "import_job"},
    "customers:import-start": {"job_pk": "import_job"},
    "customers:import-rejected": {"job_pk": "import_job"},
    "customers:import-revert": {"job_pk": "import_job"},
    "customers:duplicate-merge": {"pair_pk": "duplicate_pair"},
    "customers:duplicate-dismiss": {"pair_pk": "duplicate_pair"},
    "customers:merge-restore": {"merge_pk": "merge_record"},
    # sales
    "sales:building-grid": {"pk": "building"},
    "sales:building-grid-cells": {"pk": "building"},
    "sales:price-plan": {"pk": "building"},
    "sales:unit-detail": {"pk": "unit"},
    "sales:unit-reserve": {"pk": "free_unit"},
    "sales:opportunity-detail": {"pk": "deal"},
    "sales:opportunity-move": {"pk": "deal"},
    "sales:opportunity-co-buyers": {"pk": "deal"},
    "sales:hold-release": {"pk": "deal"},
    "sales:opportunity-subscribe": {"pk": "deal"},
    "sales:opportunity-open": {"customer_pk": "customer"},
    "sales:opportunity-discount": {"pk": "deal"},
    "sales:opportunity-contract": {"pk": "deal"},
    "sales:payment-plan": {"pk": "deal"},
    "sales:receipt-create": {"pk": "deal"},
    "sales:opportunity-print": {"pk": "deal"},
    "sales:approval-decide": {"pk": "discount_request"},
    "sales:deal-change-create": {"pk": "subscribed_deal"},
    "sales:deal-unit-options": {"pk": "subscribed_deal"},
    "sales:deal-change-decide": {"pk": "deal_change"},
    "sales:pool-claim": {"customer_pk": "pool_customer"},
    "sales:registration-reassign": {"pk": "registration"},
    "sales:project-rules": {"pk": "project"},
    # Opening day (issue 16): deposits of intent and a session's order.
    "sales:deposit-list": {"pk": "project"},
    "sales:deposit-take": {"pk": "project"},
    "sales:deposit-detail": {"pk": "deposit"},
    "sales:deposit-refund-request": {"pk": "deposit"},
    "sales:deposit-qualify": {"pk": "deposit"},
    "sales:deposit-refund-decide": {"pk": "deposit_refund"},
    "sales:session-order": {"pk": "selection_session"},
    "sales:session-fill": {"pk": "selection_session"},
    "sales:session-commit": {"pk": "selection_session"},
    "sales:session-order-set": {"pk": "selection_session"},
    # The sale after contract (issue 16).
    "sales:project-aftersale-rules": {"pk": "project"},
    "sales:commission-pay": {"pk": "commission"},
    "sales:commission-waive": {"pk": "commission"},
    "sales:refund-pay": {"pk": "refund"},
    # service
    "service:request-detail": {"pk": "service_request"},
    "service:request-photos-add": {"pk": "service_request"},
    "service:request-photo": {"pk": "service_request", "photo_pk": "request_photo"},
    "service:request-assign": {"pk": "service_request"},
    "service:request-accept": {"pk": "portal_request"},
    "service:letter-detail": {"pk": "owner_letter"},
    "service:letter-answer": {"pk": "owner_letter"},
    # The owners' portal (service): each household's own request and letter.
    "service_portal:request-detail": {"pk": "portal_service_request"},
    "service_portal:request-photo": {
        "pk": "portal_service_request",
        "photo_pk": "portal_request_photo",
    },
    "service_portal:request-confirm": {"pk": "portal_service_request"},
    "service_portal:request-reject": {"pk": "portal_service_request"},
    "service_portal:request-rate": {"pk": "portal_service_request"},
    "service_portal:letter-detail": {"pk": "portal_letter"},
    "service:request-start": {"pk": "service_request"},
    "service:request-resolve": {"pk": "service_request"},
    "service:request-callback": {"pk": "service_request"},
    "service:request-close": {"pk": "service_request"},
    "service:work-order-create": {"pk": "service_request"},
    "service:article-use": {"pk": "service_request", "article_pk": "article"},
    "service:work-order-schedule": {"pk": "work_order"},
    "service:work-order-sign-off": {"pk": "work_order"},
    "service:work-order-cancel": {"pk": "work_order"},
    "service:work-order-photo": {"pk": "work_order"},
    "service:contractor-detail": {"pk": "contractor"},
    "service:contractor-edit": {"pk": "contractor"},
    "service:chargeback-create": {"pk": "contractor"},
    "service:chargeback-recover": {"pk": "chargeback"},
    "service:article-detail": {"pk": "article"},
    "service:article-edit": {"pk": "article"},
    "service:handover-detail": {"pk": "handover_batch"},
    "service:handover-slot-add": {"pk": "handover_batch"},
    "service:handover-checklist": {"pk": "handover_batch"},
    "service:handover-slot-change": {
        "pk": "handover_batch",
        "slot_pk": "handover_slot",
    },
    "service:handover-invite": {"pk": "handover_batch"},
    "service:handover-close": {"pk": "handover_batch"},
    "service:handover-appointment": {"pk": "handover_appointment"},
    "service:handover-book": {"pk": "handover_appointment"},
    "service:inspection-start": {"pk": "handover_appointment"},
    "service:inspection-save": {"pk": "handover_appointment"},
    "service:inspection-defects": {"pk": "handover_appointment"},
    "service:handover-complete": {"pk": "handover_appointment"},
    "service:inspection-photo": {"pk": "inspection_item"},
    # marketing
    "marketing:segment-edit": {"pk": "segment"},
    "marketing:segment-delete": {"pk": "segment"},
    "marketing:campaign-detail": {"pk": "campaign"},
    "marketing:campaign-edit": {"pk": "campaign"},
    "marketing:campaign-progress": {"pk": "campaign"},
    "marketing:campaign-members": {"pk": "campaign"},
    "marketing:campaign-move": {"pk": "campaign"},
    "marketing:campaign-send": {"pk": "campaign"},
    "marketing:cost-line-add": {"pk": "campaign"},
    "marketing:campaign-checkin": {"pk": "campaign"},
    "marketing:deal-campaign": {"pk": "deal"},
    "marketing:referral-detail": {"pk": "referral"},
    "marketing:reward-approve": {"pk": "referral"},
    "marketing:reward-pay": {"pk": "referral"},
    "marketing:referral-create": {"customer_pk": "owner"},
    "marketing:club-member": {"pk": "club_member"},
    "marketing:club-correct": {"pk": "club_member"},
    "marketing:partner-detail": {"pk": "partner"},
    "marketing:partner-edit": {"pk": "partner"},
    "marketing:broker-add": {"pk": "partner"},
    "marketing:commission-pay": {"pk": "commission"},
    # the owners' portal (tests/security/test_portal_crawl.py)
    "sales_portal:home-detail": {"pk": "portal_deal"},
    "sales_portal:document": {"pk": "portal_deal"},
    "service_portal:handover-booking": {"pk": "portal_appointment"},
    "marketing_portal:event-signup": {"pk": "portal_event_member"},
}

#: Non-id kwargs: the value a URL gets whatever the side (tokens are world keys).
OTHER_KWARGS: dict[str, dict[str, str]] = {
    "sales:opportunity-print": {"document": "selection"},
    "sales_portal:document": {"document": "subscription"},
    "marketing:campaign-move": {"status": "running"},
    "outbox-send-again": {"kind": "marketing.invitation"},
    "outbox-mark-sent": {"kind": "marketing.invitation"},
}
TOKEN_OF: dict[str, str] = {
    "marketing:unsubscribe": "unsubscribe_token",
    "marketing:public-signup": "signup_token",
    "marketing:public-qr": "signup_token",
    "service:handover-booking": "booking_token",
    "service:survey-answer": "survey_token",
}

#: Who may see each far-side object: everyone else must get 404 (or 403).
FAR_VISIBLE_TO: dict[str, set[str]] = {
    "customer": {"executive", "administrator", "far_consultant"},
    "deal": {"executive", "administrator", "far_consultant"},
    "discount_request": {"executive", "administrator", "far_consultant"},
    "deposit": {"executive", "administrator", "far_consultant"},
    "deposit_refund": {"executive", "administrator", "far_consultant"},
    "registration": {"executive", "administrator", "far_consultant"},
    "contact_point": {"executive", "administrator", "far_consultant"},
    "saved_filter": {"far_consultant"},
    "notification": {"far_consultant"},
    # Channel partners are marketing's records, seen by all who see partners; only
    # a broker is limited to its own.
    "partner": {"marketer", "sales_manager", "executive", "administrator"},
    "partner_registration": {"far_broker", "executive", "administrator"},
    # A club member's ledger: whoever sees the customer (and the club).
    "club_member": {"executive", "administrator", "far_consultant"},
}


@dataclass
class World:
    users: dict[str, User | None] = field(default_factory=dict)
    near: dict[str, Model] = field(default_factory=dict)
    far: dict[str, Model] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def user(self, persona: str) -> User | None:
        """The persona's user; ``anonymous`` is None."""
        return self.users.get(persona)

    def obj(self, key: str, *, far: bool = False) -> Model:
        """A world object; far=True gives the far side's when it has one."""
        if far and key in self.far:
            return self.far[key]
        return self.near[key]

    def has_far(self, url_name: str) -> bool:
        """True when the URL's objects have a far (out-of-scope) counterpart."""
        keys = PK_OF.get(url_name, {}).values()
        return any(key in self.far for key in keys)

    def far_keys(self, url_name: str) -> list[str]:
        """The world keys of the URL's ids that have a far counterpart."""
        return [k for k in PK_OF.get(url_name, {}).values() if k in self.far]

    def kwargs_for(
        self, url_name: str, kwarg_names: list[str], *, far: bool = False
    ) -> dict[str, object]:
        """The kwargs to reverse ``url_name`` with, from the world's objects.

        Raises KeyError for a kwarg the world does not know: a new URL pattern must be
        added to PK_OF (or OTHER_KWARGS / TOKEN_OF) when it is added to urls.py."""
        result: dict[str, object] = {}
        for name in kwarg_names:
            if name == "token":
                result[name] = self.tokens[TOKEN_OF[url_name]]
            elif name in OTHER_KWARGS.get(url_name, {}):
                result[name] = OTHER_KWARGS[url_name][name]
            else:
                result[name] = self.obj(PK_OF[url_name][name], far=far).pk
        return result


def _persona(name: str, role: Role | None, **fields) -> User:
    user = UserFactory(username=f"w_{name}", **fields)
    if role is not None:
        user.groups.add(Group.objects.get(name=role.value))
    return user


def build_world() -> World:
    """Create the world in the current test database; call it inside a db test."""
    from customers.models import (
        ContactPoint,
        DuplicatePair,
        ImportJob,
        MergeRecord,
        SavedFilter,
    )
    from marketing import services as marketing_services
    from marketing.models import (
        Broker,
        Campaign,
        CampaignMember,
        ChannelPartner,
        CostLine,
        Invitation,
        ReferralReward,
        ReferralRule,
        Response,
        Segment,
    )
    from marketing.services.invitations import public_token
    from marketing.services.partners import (
        commission_on_contract,
        partner_registration_create,
    )
    from marketing.services.referrals import referral_create
    from marketing.views.public import SIGNUP_SALT, UNSUBSCRIBE_SALT
    from sales import services as sales_services
    from sales.models import DealChange, DiscountRequest, Opportunity, Unit
    from sales.services import ownership
    from service import handover, services_work
    from service import services as service_services
    from service.models import (
        Article,
        Contractor,
        Inspection,
        InspectionItem,
        RequestPhoto,
        SurveyInvitation,
        SurveyTemplate,
        WorkOrder,
    )
    from service.surveys import survey_token

    w = World()
    team = TeamFactory(name="世界一组")
    far_team = TeamFactory(name="世界二组")
    for name, role in PERSONAS.items():
        team_of = {"far_consultant": far_team}.get(name, team)
        w.users[name] = _persona(
            name, role, team=team_of if role in _TEAM_ROLES else None
        )
    w.users["anonymous"] = None
    consultant = w.users["consultant"]
    far_consultant = w.users["far_consultant"]
    manager = w.users["service_manager"]
    agent = w.users["service_agent"]
    marketer = w.users["marketer"]
    n, f = w.near, w.far

    # Sales: a project of both teams, a building, deals at every step --------------
    building = make_building(project_name="世界·安居苑", floors=4, per_floor=4)
    project = building.project
    project.teams.add(team, far_team)
    units = list(Unit.objects.filter(building=building).order_by("floor", "position"))
    n.update(project=project, building=building, unit=units[0], free_unit=units[-1])

    customer = CustomerFactory(
        name="近客", assigned_consultant=consultant, consent_sms=True
    )
    far_customer = CustomerFactory(
        name="远客", assigned_consultant=far_consultant, consent_sms=False
    )
    n["customer"], f["customer"] = customer, far_customer
    n["pool_customer"] = CustomerFactory(name="公海客", assigned_consultant=None)

    deal = sales_services.opportunity_open(
        actor=consultant, customer=customer, project=project
    )
    sales_services.unit_reserve(actor=consultant, opportunity=deal, unit=units[0])
    far_deal = sales_services.opportunity_open(
        actor=far_consultant, customer=far_customer, project=project
    )
    sales_services.unit_reserve(
        actor=far_consultant, opportunity=far_deal, unit=units[1]
    )
    n["deal"], f["deal"] = deal, far_deal
    n["discount_request"] = DiscountRequest.objects.create(
        opportunity=deal,
        requested_by=consultant,
        percent=Decimal("9.00"),
        reason="老客",
    )
    f["discount_request"] = DiscountRequest.objects.create(
        opportunity=far_deal,
        requested_by=far_consultant,
        percent=Decimal("9.00"),
        reason="老客",
    )

    # Opening day (issue 16): a deposit of intent on each side with a refund asked,
    # and a lottery session being prepared.
    from sales.models import DepositRefund, SelectionSession
    from sales.services import deposits as deposit_services

    for side, who, whom, receipt in (
        (n, consultant, customer, "W-1"),
        (f, far_consultant, far_customer, "W-2"),
    ):
        side["deposit"] = deposit_services.deposit_take(
            actor=who,
            project=project,
            customer=whom,
            receipt_number=receipt,
            method="transfer",
        )
        side["deposit_refund"] = DepositRefund.objects.create(
            deposit=side["deposit"],
            amount=side["deposit"].amount,
            reason="放弃",
            requested_by=who,
        )
    n["selection_session"] = SelectionSession.objects.create(
        project=project,
        name="世界首开",
        starts_at=timezone.now() + timedelta(days=1),
        mode=SelectionSession.Mode.BOTH,
        order=SelectionSession.Order.LOTTERY,
        created_by=w.users["sales_manager"],
    )

    subscriber = CustomerFactory(name="认购客", assigned_consultant=consultant)
    subscribed = sales_services.opportunity_open(
        actor=consultant, customer=subscriber, project=project
    )
    sales_services.unit_reserve(actor=consultant, opportunity=subscribed, unit=units[2])
    sales_services.unit_subscribe(actor=consultant, opportunity=subscribed)
    n["subscribed_deal"] = subscribed
    n["deal_change"] = DealChange.objects.create(
        opportunity=subscribed,
        requested_by=consultant,
        kind=DealChange.Kind.CHANGE_UNIT,
        new_unit=units[3],
        reason="换房",
    )
    # The sale after contract (issue 16): a commission and a refund to mark paid.
    from sales.models import Commission, DealRefund

    n["commission"] = Commission.objects.create(
        opportunity=subscribed,
        consultant=consultant,
        project=project,
        basis="fixed",
        rate=Decimal("1000"),
        amount=Decimal("1000"),
        status=Commission.Status.PAYABLE,
    )
    n["refund"] = DealRefund.objects.create(
        change=DealChange.objects.create(
            opportunity=deal,
            requested_by=consultant,
            kind=DealChange.Kind.CANCEL,
            reason="退房",
            status=DealChange.Status.REJECTED,
        ),
        opportunity=deal,
        received=Decimal("50000"),
        forfeit=Decimal("0"),
        amount=Decimal("50000"),
        created_by=consultant,
    )

    # An owner: a contracted deal on a unit of the building (service and referrals).
    owner = CustomerFactory(
        name="业主", stage="owner", assigned_consultant=consultant, consent_sms=True
    )
    owned_unit = units[4]
    Unit.objects.filter(pk=owned_unit.pk).update(status=Unit.Status.CONTRACTED)
    n["owner"] = owner
    n["owner_deal"] = Opportunity.objects.create(
        customer=owner,
        project=project,
        unit=owned_unit,
        consultant=consultant,
        stage=Opportunity.Stage.CONTRACTED,
    )

    n["registration"] = ownership.registration_create(
        actor=consultant,
        customer=customer,
        project=project,
        consultant=consultant,
        basis="visit",
    )
    f["registration"] = ownership.registration_create(
        actor=far_consultant,
        customer=far_customer,
        project=project,
        consultant=far_consultant,
        basis="visit",
    )

    # Customers: contacts, filters, imports, duplicates, a merge ---------------------
    n["contact_point"] = ContactPoint.objects.create(
        customer=customer, kind="mobile", value="+8613300133000"
    )
    f["contact_point"] = ContactPoint.objects.create(
        customer=far_customer, kind="mobile", value="+8613300133001"
    )
    n["saved_filter"] = SavedFilter.objects.create(
        user=consultant, name="我的意向", query="stage=prospect"
    )
    f["saved_filter"] = SavedFilter.objects.create(
        user=far_consultant, name="他的意向", query="stage=prospect"
    )
    job = ImportJob(created_by=w.users["sales_manager"], original_name="a.csv")
    job.file.save("a.csv", ContentFile(b"name,mobile\n"), save=False)
    job.save()
    n["import_job"] = job
    first = CustomerFactory(name="重复甲", assigned_consultant=consultant)
    second = CustomerFactory(name="重复乙", assigned_consultant=consultant)
    n["duplicate_pair"] = DuplicatePair.objects.create(first=first, second=second)
    absorbed = CustomerFactory(name="已合并", assigned_consultant=consultant)
    n["merge_record"] = MergeRecord.objects.create(
        survivor=first, absorbed=absorbed, merged_by=w.users["sales_manager"]
    )

    n["notification"] = Notification.objects.create(
        user=consultant, message="世界通知", url="/"
    )
    f["notification"] = Notification.objects.create(
        user=far_consultant, message="远方通知", url="/"
    )

    # Service: a request with a photo, work orders, a contractor, knowledge ---------
    request = service_services.request_create(
        actor=agent,
        customer=owner,
        unit=owned_unit,
        kind="repair",
        category="plumbing",
        severity="high",
        channel="phone",
        description="卫生间漏水",
    )
    n["service_request"] = request
    # From the owners' portal: waiting for an agent to accept it; and a letter to the
    # general manager waiting for an answer.
    n["portal_request"] = service_services.request_create(
        actor=None,
        customer=owner,
        unit=owned_unit,
        kind="repair",
        category="plumbing",
        severity="normal",
        channel="portal",
        description="厨房下水堵塞",
    )
    from service.mailbox import letter_write

    n["owner_letter"] = letter_write(
        owner=owner,
        household_ids=frozenset({owner.pk}),
        subject="小区绿化",
        body="希望尽快完成绿化。",
        unit=owned_unit,
    )
    photo = RequestPhoto(request=request, uploaded_by=agent)
    photo.file.save("leak.png", ContentFile(PNG), save=False)
    photo.save()
    n["request_photo"] = photo
    contractor = Contractor.objects.create(
        name="世界防水", trade="防水", warranty_months=24
    )
    n["contractor"] = contractor
    work_order = services_work.work_order_create(
        actor=manager,
        request=request,
        task="修补防水",
        assignee_kind="contractor",
        contractor=contractor,
        due_at=timezone.now() + timedelta(days=2),
    )
    n["work_order"] = work_order
    # Only signed-off contractor work can be charged back.
    done = WorkOrder.objects.create(
        request=request,
        task="换水管",
        assignee_kind="contractor",
        department="contractor",
        contractor=contractor,
        status="done",
        due_at=timezone.now() + timedelta(days=1),
        signed_off_at=timezone.now() - timedelta(hours=6),
        signed_off_by=manager,
        created_by=manager,
    )
    n["done_work_order"] = done
    n["chargeback"] = services_work.chargeback_create(
        actor=manager,
        work_order=done,
        request=request,
        amount=Decimal("500.00"),
        reason="返工",
    )
    n["article"] = Article.objects.create(
        title="卫生间漏水",
        category="plumbing",
        problem="地漏渗水",
        fix="重做防水",
        created_by=manager,
    )

    # Handover: a batch of the building, a slot, the owner's appointment -------------
    today = timezone.localdate()
    batch = handover.batch_create(
        actor=manager,
        building=building,
        name="世界交房",
        starts_on=today,
        ends_on=today + timedelta(days=10),
    )
    n["handover_batch"] = batch
    n["handover_slot"] = handover.slot_add(
        actor=manager,
        batch=batch,
        day=today + timedelta(days=1),
        starts_at=time(9),
        ends_at=time(11),
        capacity=3,
    )
    handover.batch_invite(actor=manager, batch=batch)
    appointment = batch.appointments.order_by("pk").first()
    n["handover_appointment"] = appointment
    inspection = Inspection.objects.create(appointment=appointment, inspector=manager)
    item = InspectionItem(
        inspection=inspection, position=1, room="厨房", item="墙面", result="defect"
    )
    item.photo.save("wall.png", ContentFile(PNG), save=False)
    item.save()
    n["inspection_item"] = item
    w.tokens["booking_token"] = handover.booking_token(appointment)

    template = SurveyTemplate.objects.filter(is_active=True).first()
    if template is None:
        template = SurveyTemplate.objects.create(name="回访", occasion="request_closed")
    survey = SurveyInvitation.objects.create(
        template=template,
        customer=owner,
        project=project,
        request=request,
        due_at=timezone.now() - timedelta(minutes=1),
    )
    n["survey_invitation"] = survey
    w.tokens["survey_token"] = survey_token(survey)

    # Marketing: a segment, a campaign with a member, an invitation, a response -------
    segment = Segment.objects.create(name="世界客群", criteria={"stage": "prospect"})
    n["segment"] = segment
    campaign = marketing_services.campaign_create(
        actor=marketer,
        name="世界品鉴会",
        kind=Campaign.Kind.EVENT,
        project=project,
        segment=segment,
        starts_on=today,
        ends_on=today + timedelta(days=7),
        invite_sms=True,
        message="诚邀您参加",
    )
    n["campaign"] = campaign
    n["cost_line"] = CostLine.objects.create(
        campaign=campaign, spent_on=today, item="场地", amount=Decimal("1000.00")
    )
    member = CampaignMember.objects.create(campaign=campaign, customer=customer)
    n["campaign_member"] = member
    invitation = Invitation.objects.create(
        campaign=campaign, member=member, channel="sms"
    )
    n["invitation"] = invitation
    # A message whose send was interrupted and could not be checked: the outbox
    # review page lists it.
    n["parked_invitation"] = Invitation.objects.create(
        campaign=campaign, member=member, channel="email", status="unknown"
    )
    n["response"] = Response.objects.create(
        campaign=campaign, member=member, customer=customer, kind="signed_up"
    )
    w.tokens["unsubscribe_token"] = public_token(invitation, UNSUBSCRIBE_SALT)
    w.tokens["signup_token"] = public_token(invitation, SIGNUP_SALT)

    ReferralRule.objects.create(project=project, reward=Decimal("8888.00"))
    friend = CustomerFactory(name="朋友", assigned_consultant=consultant)
    referral = referral_create(
        actor=consultant, referrer=owner, friend=friend, project=project
    )
    n["referral"] = referral
    n["referral_reward"] = ReferralReward.objects.create(
        referral=referral, amount=Decimal("8888.00")
    )

    # The member club: a level, a rule, the owner's points; the far side's member is
    # the far customer (another team's, no marketing consent).
    from marketing.models import ClubLevel, PointRule
    from marketing.services.club import members_enrol, points_correct

    ClubLevel.objects.create(name="银卡", min_points=100, benefits="免费洗车")
    PointRule.objects.create(source="event_attended", points=50)
    members_enrol()
    points_correct(
        actor=w.users["administrator"], member=owner, points=120, reason="开卡礼"
    )
    n["club_member"], f["club_member"] = owner, far_customer

    partner = ChannelPartner.objects.create(
        name="世界门店",
        contact_name="周经理",
        contact_phone="+8613512345678",
        commission_kind=ChannelPartner.CommissionKind.PERCENT,
        commission_value=Decimal("1.50"),
    )
    far_partner = ChannelPartner.objects.create(
        name="远方门店",
        contact_name="吴经理",
        contact_phone="+8613512345679",
        commission_kind=ChannelPartner.CommissionKind.FIXED,
        commission_value=Decimal("8000"),
    )
    n["partner"], f["partner"] = partner, far_partner
    Broker.objects.create(user=w.users["broker"], partner=partner)
    far_broker = _persona("far_broker", Role.CHANNEL_PARTNER)
    Broker.objects.create(user=far_broker, partner=far_partner)
    w.users["far_broker"] = far_broker
    link = partner_registration_create(
        broker=w.users["broker"],
        partner=partner,
        project=project,
        name="经纪客",
        mobile="+8613911112222",
    )
    n["partner_registration"] = link
    f["partner_registration"] = partner_registration_create(
        broker=far_broker,
        partner=far_partner,
        project=project,
        name="远经纪客",
        mobile="+8613911113333",
    )
    partner_deal = Opportunity.objects.create(
        customer=link.customer,
        project=project,
        unit=units[5],
        consultant=consultant,
        stage=Opportunity.Stage.CONTRACTED,
    )
    Unit.objects.filter(pk=units[5].pk).update(status=Unit.Status.CONTRACTED)
    n["commission"] = commission_on_contract(opportunity=partner_deal, actor=None)
    _portal_households(w)
    _portal_opening(w)
    _portal_club(w)
    _api_service_marketing(w)
    _screen_pop(w)
    _opening_sessions(w)
    return w


def _portal_club(w: World) -> None:
    """Each portal household's member club: points, a running club event that invites
    the owner, a friend they recommended."""
    from marketing import services as marketing_services
    from marketing.models import CampaignMember
    from marketing.services.club import points_correct
    from marketing.services.referrals import referral_from_owner

    for side, actor, mobile in (
        (w.near, w.users["marketer"], "+8613812351111"),
        (w.far, w.users["administrator"], "+8613812352222"),
    ):
        owner = side["portal_owner"]
        points_correct(
            actor=w.users["administrator"], member=owner, points=150, reason="开卡礼"
        )
        campaign = marketing_services.campaign_create(
            actor=actor,
            name=f"{owner.name}的业主答谢会",
            kind="event",
            project=side["portal_unit"].building.project,
            starts_on=timezone.localdate(),
            ends_on=timezone.localdate() + timedelta(days=7),
        )
        marketing_services.campaign_move(
            actor=actor, campaign=campaign, status="running"
        )
        side["portal_event_member"] = CampaignMember.objects.create(
            campaign=campaign, customer=owner
        )
        referral_from_owner(
            owner=owner,
            friend_name=f"{owner.name}的朋友",
            friend_mobile=mobile,
            friend_agreed=True,
        )


def _portal_households(w: World) -> None:
    """Two households of the owners' portal: the near one signs in (portal_owner), the
    far one is another household whose objects must stay out of its reach. Each has a
    contracted deal with a co-buyer, a payment plan with a receipt, a handover
    appointment with a slot and an inspection with a defect, and a survey."""
    from sales.models import PaymentItem
    from sales.services import opportunity_contract
    from sales.services.money import receipt_record
    from sales.services.ownership import current_rule
    from service import handover
    from service.mailbox import letter_write
    from service.models import (
        Inspection,
        InspectionItem,
        RequestPhoto,
        SurveyInvitation,
        SurveyTemplate,
    )
    from service.portal_requests import portal_request_submit
    from tests.portal_fixtures import make_owner_household

    today = timezone.localdate()
    manager = w.users["service_manager"]
    sides = (
        (w.near, w.users["consultant"], "世界·业主苑", "近业主", "+8613812350001"),
        (w.far, w.users["far_consultant"], "世界·远邻苑", "远业主", "+8613812359001"),
    )
    template = SurveyTemplate.objects.filter(occasion="handover").first()
    if template is None:
        template = SurveyTemplate.objects.create(name="交房回访", occasion="handover")
    for side, actor, project_name, name, mobile in sides:
        home = make_owner_household(
            actor=actor,
            project_name=project_name,
            buyer_name=name,
            buyer_mobile=mobile,
            co_buyer_name=f"{name}配偶",
            co_buyer_mobile=mobile[:-1] + "2",
        )
        # The rule a protection page would otherwise create on first read.
        current_rule(home.unit.building.project)
        deal = opportunity_contract(actor=actor, opportunity=home.deal)
        item = PaymentItem.objects.filter(opportunity=deal).order_by("sequence").first()
        side["portal_receipt"] = receipt_record(
            actor=actor,
            item=item,
            amount=item.amount,
            received_on=today,
            method="transfer",
        )
        batch = handover.batch_create(
            actor=manager,
            building=home.unit.building,
            name=f"{project_name}交房",
            starts_on=today,
            ends_on=today + timedelta(days=10),
        )
        slot = handover.slot_add(
            actor=manager,
            batch=batch,
            day=today + timedelta(days=2),
            starts_at=time(9),
            ends_at=time(11),
            capacity=5,
        )
        handover.batch_invite(actor=manager, batch=batch)
        appointment = batch.appointments.get(unit=home.unit)
        inspection = Inspection.objects.create(
            appointment=appointment, inspector=manager
        )
        InspectionItem.objects.create(
            inspection=inspection,
            position=1,
            room="卫生间",
            item="防水与地漏",
            result="defect",
            note="地漏反水",
        )
        household = frozenset({home.buyer.pk, home.co_buyer.pk})
        side["portal_service_request"] = portal_request_submit(
            owner=home.co_buyer,
            household_ids=household,
            unit=home.unit,
            kind="repair",
            category="plumbing",
            description="阳台地漏反水",
        )
        photo = RequestPhoto(request=side["portal_service_request"])
        photo.file.save("drain.png", ContentFile(PNG), save=False)
        photo.save()
        side["portal_request_photo"] = photo
        side["portal_letter"] = letter_write(
            owner=home.buyer,
            household_ids=household,
            subject="希望增加充电桩",
            body="地下车库能否增加充电桩？",
            unit=home.unit,
        )
        side["portal_owner"] = home.buyer
        side["portal_co_buyer"] = home.co_buyer
        side["portal_deal"] = deal
        side["portal_unit"] = home.unit
        side["portal_appointment"] = appointment
        side["portal_slot"] = slot
        side["portal_survey"] = SurveyInvitation.objects.create(
            template=template,
            customer=home.buyer,
            project=home.unit.building.project,
            appointment=appointment,
            due_at=timezone.now() - timedelta(minutes=1),
            status="sent",
        )


# Roles that belong to a sales team (their scope is the team's).
_TEAM_ROLES = {Role.CONSULTANT, Role.SALES_MANAGER}

# The REST API's customers, inventory and deals (customers/api.py, sales/api.py).
PK_OF.update(
    {
        "api:customer-detail": {"pk": "customer"},
        "api:project-detail": {"pk": "project"},
        "api:building-detail": {"pk": "building"},
        "api:unit-detail": {"pk": "unit"},
        "api:deal-detail": {"pk": "deal"},
    }
)


# The service and marketing API (service/api.py, marketing/api.py) ------------------
PK_OF.update(
    {
        "api:service-request-detail": {"pk": "service_request"},
        "api:service-request-steps": {"pk": "service_request"},
        "api:survey-detail": {"pk": "survey_response"},
        "api:campaign-detail": {"pk": "campaign"},
        "api:campaign-sign-ups": {"pk": "campaign"},
    }
)


def _api_service_marketing(w: World) -> None:
    """An answered survey (the survey results' API), about a request of its own."""
    from service import services as service_services
    from service.models import SurveyInvitation, SurveyResponse, SurveyTemplate

    owner = w.near["service_request"].customer
    request = service_services.request_create(
        actor=w.users["service_agent"],
        customer=owner,
        kind="complaint",
        category="design",
        severity="normal",
        channel="phone",
        description="已答问卷",
    )
    invitation = SurveyInvitation.objects.create(
        template=SurveyTemplate.objects.filter(is_active=True).first()
        or SurveyTemplate.objects.create(name="回访", occasion="request_closed"),
        customer=owner,
        request=request,
        due_at=timezone.now() - timedelta(days=1),
        status="sent",
        answered_at=timezone.now(),
    )
    w.near["survey_response"] = SurveyResponse.objects.create(
        invitation=invitation, customer=owner, index=Decimal("80"), comment="满意"
    )


# The screen pop (issue 15): a call that rang at the service agent's, and one at the
# far consultant's. No persona has an extension, so the crawl's GET of the event
# stream answers 204 at once instead of holding the connection open.
PK_OF.update(
    {
        "customers:screen-pop-card": {"pk": "call"},
        "customers:screen-pop-log": {"pk": "call"},
        "customers:screen-pop-register": {"pk": "call"},
    }
)
FAR_VISIBLE_TO["call"] = {"far_consultant"}


def _screen_pop(w: World) -> None:
    from customers.models import Call

    now = timezone.now()
    w.near["call"] = Call.objects.create(
        call_id="world-near",
        caller=w.near["customer"].mobile,
        customer=w.near["customer"],
        agent=w.users["service_agent"],
        extension="8001",
        ringing_at=now,
    )
    w.far["call"] = Call.objects.create(
        call_id="world-far",
        caller="+8613800009999",
        agent=w.users["far_consultant"],
        extension="8002",
        ringing_at=now,
    )


# Opening day's selection sessions (issue 16, console): a session of a project both
# teams sell, with a selection, and one of a project only the far team sells.
_SESSION_URLS = [
    "session-detail",
    "session-edit",
    "session-open",
    "session-call",
    "session-console",
    "session-console-card",
    "session-select",
    "session-screen",
    "session-events",
    "session-close",
    "session-report",
    "session-order",
]
PK_OF.update({f"sales:{name}": {"pk": "session"} for name in _SESSION_URLS})
PK_OF.update(
    {
        "sales:session-list": {"pk": "opening_project"},
        "sales:session-create": {"pk": "opening_project"},
        "sales:selection-print": {"pk": "selection"},
    }
)
FAR_VISIBLE_TO["session"] = {"executive", "administrator", "far_consultant"}
FAR_VISIBLE_TO["opening_project"] = {"executive", "administrator", "far_consultant"}


def _opening_sessions(w: World) -> None:
    from crm_site.models import Team
    from sales.services.opening import selection_make
    from sales.services.ownership import current_rule
    from tests.opening_fixtures import enter, make_deposit, make_session

    consultant = w.users["consultant"]
    manager = w.users["sales_manager"]
    far_consultant = w.users["far_consultant"]
    near_team = consultant.team
    far_team = Team.objects.get(pk=far_consultant.team_id)
    for side, name, teams, seller in (
        (w.near, "世界·开盘苑", [near_team, far_team], consultant),
        (w.far, "世界·远盘苑", [far_team], far_consultant),
    ):
        building = make_building(project_name=name, floors=2, per_floor=2, skipped=())
        project = building.project
        project.teams.add(*teams)
        # The rule a protection page would otherwise create on first read.
        current_rule(project)
        session = make_session(project=project, created_by=manager)
        entry = enter(session, make_deposit(project=project, consultant=seller))
        enter(session, make_deposit(project=project, consultant=seller))
        side["opening_project"], side["session"] = project, session
        if side is w.near:
            side["selection"] = selection_make(
                session=session,
                entry=entry,
                unit=building.units.order_by("pk").first(),
                channel="on_site",
                actor=consultant,
            )


# Online selection on opening day (sales.views_portal_opening), issue 16 ---------------
PK_OF.update(
    {
        "sales_portal:opening-session": {"pk": "portal_entry"},
        "sales_portal:opening-live": {"pk": "portal_entry"},
        "sales_portal:opening-choose": {"pk": "portal_entry", "unit": "portal_offer"},
        "sales_portal:opening-selection": {
            "pk": "portal_entry",
            "selection": "portal_selection",
        },
    }
)


def _portal_opening(w: World) -> None:
    """Each portal household's co-buyer holds a deposit entered in an open online
    session of two units and has chosen the first; the second is still on offer."""
    from sales.models import SelectionSession
    from sales.services.opening import selection_make
    from tests.opening_fixtures import enter, make_deposit, make_session

    sides = ((w.near, w.users["consultant"]), (w.far, w.users["far_consultant"]))
    for side, actor in sides:
        project = side["portal_unit"].building.project
        building = make_building(
            project_name=project.name, floors=1, per_floor=2, skipped=()
        )
        units = list(building.units.order_by("position"))
        session = make_session(
            project=project,
            created_by=w.users["sales_manager"],
            units=units,
            mode=SelectionSession.Mode.ONLINE,
            order=SelectionSession.Order.FIRST_COME,
            name=f"{project.name} 线上首开",
        )
        deposit = make_deposit(
            project=project, consultant=actor, customer=side["portal_co_buyer"]
        )
        entry = enter(session, deposit)
        side["portal_entry"] = entry
        side["portal_offer"] = units[1]
        side["portal_selection"] = selection_make(
            session=session, entry=entry, unit=units[0], channel="online"
        )
