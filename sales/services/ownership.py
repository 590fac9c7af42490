"""Customer ownership per project: registration, protection, the public pool.

A consultant's first visit or call with a customer registers the customer at their
project; protection lasts a window set by the project's (versioned) rule and is renewed
only by real follow-ups — a logged visit or call. When it lapses, the beat sweep returns
the customer to the public pool (公海), where anyone may claim them, up to a daily cap.
Every decision is an OwnershipEvent that says why.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site import events
from crm_site.audit import audited_update
from crm_site.models import Notification, User
from crm_site.notifications import notify
from crm_site.roles import Role, roles_of
from customers.models import Customer, CustomerAccess, Interaction
from customers.services import (
    customer_access_grant,
    customer_access_revoke,
    customer_owner_set,
    customers_to_pool,
)
from sales import events as sales_events
from sales.models import (
    CoBuyer,
    Opportunity,
    OwnershipEvent,
    Project,
    ProtectionRule,
    Registration,
)
from sales.services.sessions import mask_name

# Only these renew protection: a logged visit or call, not an edited note.
RENEWING_KINDS = (
    Interaction.Kind.VISIT,
    Interaction.Kind.CALL_IN,
    Interaction.Kind.CALL_OUT,
)
# A deal at these stages protects its customer until the deal ends.
DEAL_STAGES = (Opportunity.Stage.SUBSCRIBED, Opportunity.Stage.CONTRACTED)
# A deal at these stages makes its customer a buyer, never claimable from the pool.
BUYER_STAGES = (*DEAL_STAGES, Opportunity.Stage.PAID)


class RegistrationRefused(Exception):
    """The customer is protected at this project by someone else."""

    def __init__(self, registration: Registration) -> None:
        super().__init__(f"protected by {registration.consultant_id}")
        self.registration = registration


class ClaimRefused(Exception):
    pass


def current_rule(project: Project) -> ProtectionRule:
    rule = project.protection_rules.order_by("-version").first()
    if rule is None:
        rule, _created = ProtectionRule.objects.get_or_create(
            project=project, version=1
        )
    return rule


@transaction.atomic
def rule_update(*, actor: User, project: Project, **windows: int) -> ProtectionRule:
    """A new version of the project's rule; registrations keep the version they had."""
    latest = current_rule(project)
    fields = {
        name: windows.get(name, getattr(latest, name))
        for name in (
            "call_days",
            "visit_days",
            "follow_up_days",
            "warn_days",
            "daily_claim_cap",
        )
    }
    return ProtectionRule.objects.create(
        project=project, version=latest.version + 1, created_by=actor, **fields
    )


def _window(rule: ProtectionRule, basis: str) -> int:
    return {
        Registration.Basis.CALL: rule.call_days,
        Registration.Basis.VISIT: rule.visit_days,
    }.get(basis, rule.follow_up_days)


def _event(
    registration: Registration | None,
    *,
    because: events.Entry | None = None,
    **fields,
) -> OwnershipEvent:
    """Record an ownership decision; ``because`` is the system's reason (an event
    entry), ``reason`` in fields a person's own words."""
    if because is not None:
        fields.update(event=because.code, params=because.params)
    if registration is not None:
        fields.setdefault("customer_id", registration.customer_id)
        fields.setdefault("project_id", registration.project_id)
        fields.setdefault("consultant_id", registration.consultant_id)
        fields.setdefault("rule_version", registration.rule.version)
        fields.setdefault("protected_until", registration.protected_until)
    return OwnershipEvent.objects.create(registration=registration, **fields)


def _sync_owners(customer: Customer, actor: User | None) -> None:
    """Customers' view of ownership follows the protected registrations: every holder
    may see the customer, the latest is the primary consultant, none means the pool."""
    active = list(
        Registration.objects.filter(
            customer=customer, status=Registration.Status.PROTECTED
        )
        .select_related("consultant")
        .order_by("-registered_at")
    )
    holders = {r.consultant_id: r.consultant for r in active}
    for user in holders.values():
        customer_access_grant(customer=customer, user=user, reason="registration")
    for access in customer.access.filter(reason="registration").exclude(
        user_id__in=holders
    ):
        customer_access_revoke(customer=customer, user=access.user)
    customer_owner_set(
        actor=actor, customer=customer, owner=active[0].consultant if active else None
    )


class _MergedMeanwhile(Exception):
    def __init__(self, into: int) -> None:
        self.into = into


def _locked_survivor(pk: int) -> Customer:
    """The customer ``pk``, locked, or the record it was merged into (following
    merges of merges). Found (by phone, a campaign's response, a partner's broker)
    before a merge committed, the person is the record that lives on, and its own
    protections decide: protection on the absorbed record would bind no one (and its
    owner could not be set: CustomerMerged). Each attempt holds its lock in a
    savepoint that lets it go when the record turns out merged away: holding the
    absorbed record while waiting for the survivor would wait in a circle with the
    merge's undo, which locks the pair in id order (merge._lock_pair)."""
    while True:
        try:
            with transaction.atomic():
                customer = Customer.objects.select_for_update().get(pk=pk)
                if customer.merged_into_id is None:
                    return customer
                raise _MergedMeanwhile(customer.merged_into_id)
        except _MergedMeanwhile as merged:
            pk = merged.into


def registration_create(
    *,
    actor: User | None,
    customer: Customer,
    project: Project,
    consultant: User,
    basis: str,
    reason: str = "",
    because: events.Entry | None = None,
    now: datetime | None = None,
) -> Registration:
    """Register a customer at a project. Refused, with the owner and the end of their
    protection, when someone else holds it; the same consultant gets their own back.
    The refusal itself is recorded (outside the savepoint the refusal undoes).
    ``reason`` is a manager's own words; ``because`` the system's reason (an event
    entry), by default the basis and the rule."""
    now = now or timezone.now()
    with transaction.atomic():
        # One decision at a time.
        customer = _locked_survivor(customer.pk)
        existing = (
            Registration.objects.select_related("consultant", "rule")
            .filter(
                customer=customer, project=project, status=Registration.Status.PROTECTED
            )
            .first()
        )
        if existing is None:
            return _register(
                actor, customer, project, consultant, basis, reason, because, now
            )
        if existing.consultant_id == consultant.pk:
            return existing
    _refuse(existing, consultant=consultant, actor=actor)
    raise RegistrationRefused(existing)


def protected_by_another(
    *, customer: Customer, project: Project, user: User
) -> Registration | None:
    """The registration protecting ``customer`` at ``project`` for a consultant other
    than ``user``: a deal there is that consultant's to open (a manager reassigns the
    registration first), whoever else may see or change the customer (through their
    own registration at another project, say)."""
    return (
        Registration.objects.filter(
            customer=customer, project=project, status=Registration.Status.PROTECTED
        )
        .exclude(consultant=user)
        .first()
    )


def _refuse(existing: Registration, *, consultant: User, actor: User | None) -> None:
    _event(
        existing,
        kind=OwnershipEvent.Kind.REFUSED,
        consultant_id=consultant.pk,
        actor=actor,
        because=sales_events.PROTECTED_BY(
            owner=existing.consultant.display_name,
            until=timezone.localtime(existing.protected_until).date(),
        ),
    )


def _register(
    actor, customer, project, consultant, basis, reason, because, now
) -> Registration:
    rule = current_rule(project)
    registration = Registration.objects.create(
        customer=customer,
        project=project,
        consultant=consultant,
        rule=rule,
        basis=basis,
        registered_at=now,
        protected_until=now + timedelta(days=_window(rule, basis)),
    )
    kind = {
        Registration.Basis.CLAIM: OwnershipEvent.Kind.CLAIMED,
        Registration.Basis.REASSIGN: OwnershipEvent.Kind.REASSIGNED,
    }.get(basis, OwnershipEvent.Kind.REGISTERED)
    _event(
        registration,
        kind=kind,
        actor=actor,
        reason=reason,
        because=because
        or (
            None
            if reason
            else sales_events.REGISTERED_UNDER_RULE(
                basis=basis, version=rule.version, days=_window(rule, basis)
            )
        ),
    )
    _sync_owners(customer, actor)
    return registration


def _tell_protected(user: User, registration: Registration, customer: Customer) -> None:
    notify(
        user=user,
        entry=sales_events.CUSTOMER_PROTECTED(
            customer=customer.name,
            project=registration.project.name,
            owner=registration.consultant.display_name,
            until=timezone.localtime(registration.protected_until).date(),
        ),
        target=customer,
    )


def registration_on_interaction(*, interaction: Interaction) -> None:
    """A consultant's visit or call: register the customer at the consultant's project on
    first contact, renew their protection on each later one. A contact with a customer
    someone else protects is logged on the timeline, recorded as refused, and the
    consultant is told who owns the customer until when."""
    user = interaction.created_by
    if (
        interaction.kind not in RENEWING_KINDS
        or user is None
        or not user.has_perm("customers.scope_own")
    ):
        return
    projects = list(
        Project.objects.filter(is_active=True, teams__members=user).distinct()
    )
    for project in projects:
        with transaction.atomic():
            registration = (
                Registration.objects.select_for_update(of=("self",))
                .select_related("rule", "consultant", "project")
                .filter(
                    customer_id=interaction.customer_id,
                    project=project,
                    status=Registration.Status.PROTECTED,
                )
                .first()
            )
        if registration is None:
            basis = (
                Registration.Basis.VISIT
                if interaction.kind == Interaction.Kind.VISIT
                else Registration.Basis.CALL
            )
            try:
                registration_create(
                    actor=user,
                    customer=interaction.customer,
                    project=project,
                    consultant=user,
                    basis=basis,
                    now=interaction.occurred_at,
                )
            except RegistrationRefused as refused:
                _tell_protected(user, refused.registration, interaction.customer)
            continue
        if registration.consultant_id != user.pk:
            _refuse(registration, consultant=user, actor=user)
            _tell_protected(user, registration, interaction.customer)
            continue
        until = interaction.occurred_at + timedelta(
            days=registration.rule.follow_up_days
        )
        if until > registration.protected_until:
            Registration.objects.filter(pk=registration.pk).update(
                protected_until=until, warned_at=None
            )
            registration.protected_until = until
            _event(
                registration,
                kind=OwnershipEvent.Kind.RENEWED,
                actor=user,
                because=sales_events.RENEWED_BY_CONTACT(
                    kind=interaction.kind,
                    day=timezone.localtime(interaction.occurred_at).date(),
                ),
            )


def _deal_protected(registration: Registration) -> bool:
    return Opportunity.objects.filter(
        customer_id=registration.customer_id,
        project_id=registration.project_id,
        consultant_id=registration.consultant_id,
        stage__in=DEAL_STAGES,
    ).exists()


def registrations_sweep(*, now: datetime | None = None, batch: int = 5000) -> int:
    """Return customers whose protection lapsed to the pool.

    Set-based, a batch at a time: due registrations are claimed with SKIP LOCKED and
    lapsed with a conditional UPDATE, so running twice (or two workers at once) lapses
    each once. Then, per batch: one event row each, customers with no other protection
    go to the pool (with their audit entries), access rows go, and each consultant gets
    one notification for all their lapsed customers.
    """
    now = now or timezone.now()
    deal_protected = Opportunity.objects.filter(
        customer=OuterRef("customer"),
        project=OuterRef("project"),
        consultant=OuterRef("consultant"),
        stage__in=DEAL_STAGES,
    )
    total = 0
    last_id = 0
    while True:
        with transaction.atomic():
            rows = list(
                Registration.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(
                    status=Registration.Status.PROTECTED,
                    protected_until__lt=now,
                    pk__gt=last_id,
                )
                .exclude(Exists(deal_protected))
                .order_by("pk")
                .values(
                    "pk",
                    "customer_id",
                    "consultant_id",
                    "project_id",
                    "rule__version",
                    "protected_until",
                )[:batch]
            )
            if rows:
                last_id = rows[-1]["pk"]
                lapsed_ids = _lapse(rows, now)
                total += len(lapsed_ids)
        if len(rows) < batch:
            return total


def _lapse(rows: list[dict], now: datetime) -> list[int]:
    ids = [row["pk"] for row in rows]
    Registration.objects.filter(
        pk__in=ids, status=Registration.Status.PROTECTED
    ).update(status=Registration.Status.LAPSED, ended_at=now)
    lapsed = set(
        Registration.objects.filter(
            pk__in=ids, status=Registration.Status.LAPSED, ended_at=now
        ).values_list("pk", flat=True)
    )
    rows = [row for row in rows if row["pk"] in lapsed]
    lapsed_because = sales_events.NO_FOLLOW_UP()
    OwnershipEvent.objects.bulk_create(
        OwnershipEvent(
            registration_id=row["pk"],
            customer_id=row["customer_id"],
            project_id=row["project_id"],
            consultant_id=row["consultant_id"],
            kind=OwnershipEvent.Kind.LAPSED,
            rule_version=row["rule__version"],
            protected_until=row["protected_until"],
            event=lapsed_because.code,
            params=lapsed_because.params,
            at=now,
        )
        for row in rows
    )
    customer_ids = {row["customer_id"] for row in rows}
    still = dict(
        Registration.objects.filter(
            customer_id__in=customer_ids, status=Registration.Status.PROTECTED
        )
        .order_by("customer_id", "-registered_at")
        .distinct("customer_id")
        .values_list("customer_id", "consultant_id")
    )
    # Access rows of consultants who no longer protect the customer: one statement.
    CustomerAccess.objects.filter(
        reason="registration", customer_id__in=customer_ids
    ).exclude(
        Exists(
            Registration.objects.filter(
                customer_id=OuterRef("customer_id"),
                consultant_id=OuterRef("user_id"),
                status=Registration.Status.PROTECTED,
            )
        )
    ).delete()
    to_pool = [pk for pk in customer_ids if pk not in still]
    for pk, owner in still.items():
        audited_update(
            Customer.objects.filter(pk=pk).exclude(assigned_consultant_id=owner),
            actor=None,
            when=now,
            assigned_consultant_id=owner,
        )
    customers_to_pool(customer_ids=to_pool, when=now)
    by_consultant: dict[int, int] = {}
    for row in rows:
        by_consultant[row["consultant_id"]] = (
            by_consultant.get(row["consultant_id"], 0) + 1
        )
    for consultant_id, count in by_consultant.items():
        entry = sales_events.POOL_RETURNED(count=count)
        Notification.objects.create(
            user_id=consultant_id,
            event=entry.code,
            params=entry.params,
            url=reverse("sales:pool"),
            created_at=now,
        )
    return [row["pk"] for row in rows]


def registrations_warn(*, now: datetime | None = None) -> int:
    """Warn consultants a few days before customers would return to the pool: each
    registration once (conditional update), one notification per consultant."""
    now = now or timezone.now()
    horizon = now + timedelta(
        days=int(ProtectionRule.objects.aggregate(m=Max("warn_days"))["m"] or 3)
    )
    with transaction.atomic():
        rows = list(
            Registration.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                status=Registration.Status.PROTECTED,
                warned_at__isnull=True,
                protected_until__gte=now,
                protected_until__lte=horizon,
            )
            .values(
                "pk",
                "customer_id",
                "consultant_id",
                "project_id",
                "rule__version",
                "rule__warn_days",
                "protected_until",
            )
        )
        rows = [
            r
            for r in rows
            if r["protected_until"] <= now + timedelta(days=r["rule__warn_days"])
        ]
        Registration.objects.filter(
            pk__in=[r["pk"] for r in rows], warned_at__isnull=True
        ).update(warned_at=now)
        OwnershipEvent.objects.bulk_create(
            OwnershipEvent(
                registration_id=r["pk"],
                customer_id=r["customer_id"],
                project_id=r["project_id"],
                consultant_id=r["consultant_id"],
                kind=OwnershipEvent.Kind.WARNED,
                rule_version=r["rule__version"],
                protected_until=r["protected_until"],
                at=now,
            )
            for r in rows
        )
        by_consultant: dict[int, list[dict]] = {}
        for r in rows:
            by_consultant.setdefault(r["consultant_id"], []).append(r)
        for consultant_id, mine in by_consultant.items():
            first = min(r["protected_until"] for r in mine)
            entry = sales_events.POOL_WARNING(
                count=len(mine), day=timezone.localtime(first).date()
            )
            Notification.objects.create(
                user_id=consultant_id,
                event=entry.code,
                params=entry.params,
                url=reverse("sales:my-day"),
                created_at=now,
            )
    return len(rows)


def claims_today(user: User, project: Project) -> int:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return OwnershipEvent.objects.filter(
        consultant=user,
        kind=OwnershipEvent.Kind.CLAIMED,
        project=project,
        at__gte=start,
    ).count()


def claims_today_by_project(user: User) -> dict[int, int]:
    """claims_today() of every project at once: project id → claims (the pool page
    shows every project's, in one query whatever the number of projects)."""
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return dict(
        OwnershipEvent.objects.filter(
            consultant=user, kind=OwnershipEvent.Kind.CLAIMED, at__gte=start
        )
        .values_list("project_id")
        .annotate(claims=Count("pk"))
        .order_by()
    )


def current_rules(projects: list[Project]) -> dict[int, ProtectionRule]:
    """current_rule() of each project, read in one query: project id → rule."""
    latest = {
        rule.project_id: rule
        for rule in ProtectionRule.objects.filter(project__in=projects)
        .order_by("project_id", "-version")
        .distinct("project_id")
    }
    return {p.pk: latest.get(p.pk) or current_rule(p) for p in projects}


@transaction.atomic
def pool_claim(*, actor: User, customer: Customer, project: Project) -> Registration:
    """Claim a pool customer at a project, within the day's cap. A buyer or an owner
    is never claimed: their consultant and the service desk look after them."""
    # One claim per claimant at a time: two claims of different customers (two tabs)
    # would otherwise both count the day's claims before either is written. NO KEY:
    # rows that name the user (a registration, an audit entry) are not held up.
    list(
        User.objects.select_for_update(no_key=True)
        .filter(pk=actor.pk)
        .values_list("pk")
    )
    # A deal left open there by the consultant whose protection lapsed goes to the
    # claimant (below): locked before the customer, as the deal services lock them.
    open_deals = open_deals_at(customer.pk, project.pk)
    list(open_deals.select_for_update().values_list("pk"))
    # One decision per customer at a time (registration_create takes the same lock):
    # a subscription recorded meanwhile is seen below.
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    # The page was read before a merge or an erasure committed: protection on a
    # record nobody sees any more would keep the customer from everyone.
    if customer.merged_into_id is not None:
        raise ClaimRefused(
            _("This customer was merged into another one meanwhile: claim that one.")
        )
    if customer.anonymised_at is not None:
        raise ClaimRefused(
            _("This customer's personal information was erased: nobody claims them.")
        )
    if (
        customer.stage == Customer.Stage.OWNER
        or Opportunity.objects.filter(
            customer=customer, stage__in=BUYER_STAGES
        ).exists()
        or CoBuyer.objects.filter(
            customer=customer, opportunity__stage__in=BUYER_STAGES
        ).exists()
    ):
        raise ClaimRefused(
            _(
                "%(name)s is a buyer or an owner (subscribed, contracted or handed a "
                "home) and cannot be claimed from the public pool."
            )
            % {"name": customer.name}
        )
    rule = current_rule(project)
    if claims_today(actor, project) >= rule.daily_claim_cap:
        raise ClaimRefused(
            _(
                "You have claimed %(cap)s customers at %(project)s today, the most allowed."
            )
            % {"cap": rule.daily_claim_cap, "project": project.name}
        )
    if Registration.objects.filter(
        customer=customer, project=project, status=Registration.Status.PROTECTED
    ).exists():
        raise ClaimRefused(_("This customer is protected at this project."))
    registration = registration_create(
        actor=actor,
        customer=customer,
        project=project,
        consultant=actor,
        basis=Registration.Basis.CLAIM,
    )
    deals_follow_protection(actor=actor, open_deals=open_deals, consultant=actor)
    return registration


def open_deals_at(customer_id: int, project_id: int) -> QuerySet:
    return Opportunity.objects.filter(
        customer_id=customer_id,
        project_id=project_id,
        stage__in=Opportunity.OPEN_STAGES,
    )


def deals_follow_protection(
    *, actor: User | None, open_deals: QuerySet, consultant: User
) -> None:
    """The deal at a project is worked by whoever protects the customer there (one
    open deal per customer and project): the customer's open deals there go to
    ``consultant``, each change audited. The caller has locked them (before the
    customer, in the order the deal services take them). Commission already accrued
    stays with the consultant who earned it (commission_accrue keeps its row)."""
    audited_update(
        open_deals.exclude(consultant=consultant), actor=actor, consultant=consultant
    )


@transaction.atomic
def registration_reassign(
    *, actor: User, registration: Registration, consultant: User, reason: str
) -> Registration:
    """A manager moves a protected customer to another consultant, with a reason; the
    customer's open deals at the project go with them (each change audited)."""
    registration = Registration.objects.select_for_update().get(pk=registration.pk)
    if registration.status != Registration.Status.PROTECTED:
        raise ClaimRefused(_("This registration is no longer protected."))
    open_deals = open_deals_at(registration.customer_id, registration.project_id)
    # The deals before the customer (registration_create), in the order the deal
    # services take them: a subscription at the same moment waits, never deadlocks.
    list(open_deals.select_for_update().values_list("pk"))
    Registration.objects.filter(pk=registration.pk).update(
        status=Registration.Status.ENDED, ended_at=timezone.now()
    )
    new = registration_create(
        actor=actor,
        customer=registration.customer,
        project=registration.project,
        consultant=consultant,
        basis=Registration.Basis.REASSIGN,
        reason=reason,
    )
    deals_follow_protection(actor=actor, open_deals=open_deals, consultant=consultant)
    if outside_partner(registration.consultant):
        # A channel partner's broker learns that sales took the customer over, never
        # which consultant now protects them (the reason may name them too), nor
        # the name the CRM holds for the number they gave.
        entry = sales_events.HANDED_TO_SALES_OFFICE(
            customer=name_for_broker(registration)
        )
        note = ""
    else:
        entry = sales_events.REASSIGNED(
            customer=registration.customer.name, to=consultant.display_name
        )
        note = reason  # the manager's own words, shown after the event's
    notify(
        user=registration.consultant,
        entry=entry,
        message=note,
        target=registration.customer,
    )
    return new


def name_for_broker(registration: Registration) -> str:
    """The customer as a channel partner's broker knows them: the name they gave
    when they registered the number (marketing's partner link), else masked."""
    link = getattr(registration, "partner_link", None)
    return (link.name_given if link else "") or mask_name(registration.customer.name)


def outside_partner(user: User) -> bool:
    """A channel partner's broker: outside the company, told nothing about who in
    sales holds a customer."""
    return Role.CHANNEL_PARTNER in roles_of(user)


def pool_queryset():
    """The public pool: live customers nobody owns (kept in step by _sync_owners);
    an anonymised customer is nobody's to claim."""
    return (
        Customer.objects.live().identifiable().filter(assigned_consultant__isnull=True)
    )


def pool_claimable():
    """The pool as the pool page lists it: without buyers and owners, whom pool_claim
    refuses — a co-buyer of a live deal owns the unit with its buyer and counts as
    one (the deal lookups run on opp_customer_idx and co_buyer_customer_idx per
    listed customer)."""
    return (
        pool_queryset()
        .exclude(stage=Customer.Stage.OWNER)
        .exclude(
            Exists(
                Opportunity.objects.filter(
                    customer=OuterRef("pk"), stage__in=BUYER_STAGES
                )
            )
        )
        .exclude(
            Exists(
                CoBuyer.objects.filter(
                    customer=OuterRef("pk"), opportunity__stage__in=BUYER_STAGES
                )
            )
        )
    )
