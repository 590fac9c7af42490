"""The win/loss facts (sales.insight): stage durations from a known stage history, and
the deal fact's outcome, closing month and cohort months."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm_site import insight
from crm_site.models import FactDirty
from customers.services import interaction_log
from sales import services
from sales.models import DealChange, DealFact, Opportunity, StageChange, StageDuration
from tests.factories import CustomerFactory, make_building
from tests.insight_fixtures import facts_refreshed, sell

pytestmark = pytest.mark.django_db

STAGES = "sales.stage_durations"
DEALS = "sales.deals"
T0 = datetime(2026, 3, 30, 10, 0, tzinfo=timezone.get_fixed_timezone(480))


def approved(deal: Opportunity) -> DealChange:
    """The approved cancellation move_to() asks for to end a subscription."""
    return DealChange(opportunity=deal, status=DealChange.Status.APPROVED)


def walk(deal: Opportunity, actor, start: datetime, moves: list[tuple[str, float]]):
    """Move the deal through these stages, ``days`` after the previous move each, with
    the history's times set explicitly (the deal opened at ``start``)."""
    Opportunity.objects.filter(pk=deal.pk).update(created_at=start)
    at = start
    for stage, days in moves:
        deal.move_to(stage, actor=actor, reason="price" if stage == "lost" else "")
        at += timedelta(days=days)
        change = StageChange.objects.filter(opportunity=deal).latest("id")
        StageChange.objects.filter(pk=change.pk).update(changed_at=at)
    return deal


@pytest.fixture
def building(db):
    return make_building(floors=2, per_floor=4, skipped=())


@pytest.fixture
def deal(building, consultant):
    customer = CustomerFactory(assigned_consultant=consultant, source="phone")
    return services.opportunity_open(
        actor=consultant, customer=customer, project=building.project
    )


def _rows(deal) -> dict[str, StageDuration]:
    return {r.stage: r for r in StageDuration.objects.filter(deal_id=deal.pk)}


def test_stage_durations_follow_a_known_history(deal, consultant):
    walk(deal, consultant, T0, [("visited", 2), ("reserved", 3), ("lost", 0.5)])
    facts_refreshed(STAGES)
    rows = _rows(deal)
    assert set(rows) == {"new", "visited", "reserved", "lost"}
    new, visited, reserved, lost = (
        rows[s] for s in ("new", "visited", "reserved", "lost")
    )
    assert (new.entered_at, new.left_at, new.days) == (
        T0,
        T0 + timedelta(days=2),
        Decimal("2.00"),
    )
    assert (visited.entered_at, visited.days, visited.bucket) == (
        T0 + timedelta(days=2),
        Decimal("3.00"),
        StageDuration.Bucket.D3,
    )
    assert new.bucket == StageDuration.Bucket.D1
    assert (reserved.days, reserved.bucket) == (
        Decimal("0.50"),
        StageDuration.Bucket.D0,
    )
    # A stage the deal is still in has no end and no duration yet.
    assert (lost.left_at, lost.days, lost.bucket) == (None, None, "")
    assert lost.entered_at == T0 + timedelta(days=5.5)
    # The month entered is the site's (Asia/Shanghai) month; the rest is the deal's.
    assert new.entered_month == date(2026, 3, 1)
    assert reserved.entered_month == date(2026, 4, 1)
    assert {
        (r.project_id, r.consultant_id, r.team_id, r.channel) for r in rows.values()
    } == {(deal.project_id, consultant.pk, consultant.team_id, "phone")}
    # The month entered before (Measure.runs): none before March, March before April.
    assert new.prev_month is None
    assert reserved.prev_month == lost.prev_month == date(2026, 3, 1)
    # The stages of the rows before, in stage order (bits: new 0, visited 2,
    # reserved 3), and the buckets before, in bucket order ("" 0, d00 1, d01 2, d03 3:
    # lost, reserved, new, visited) (Measure.masks).
    assert [rows[s].stages_before for s in ("new", "visited", "reserved", "lost")] == [
        0,
        0b1,
        0b101,
        0b1101,
    ]
    assert [rows[s].buckets_before for s in ("lost", "reserved", "new", "visited")] == [
        0,
        0b1,
        0b11,
        0b111,
    ]


def test_a_stage_visited_twice_sums_its_stays_and_one_still_open_has_no_days(
    deal, consultant
):
    walk(
        deal,
        consultant,
        T0,
        [("visited", 1), ("reserved", 2), ("visited", 4), ("reserved", 1)],
    )
    facts_refreshed(STAGES)
    rows = _rows(deal)
    # Visited from day 1 to 3 and from day 7 to 8.
    assert rows["visited"].days == Decimal("3.00")
    assert rows["visited"].entered_at == T0 + timedelta(days=1)
    assert rows["visited"].left_at == T0 + timedelta(days=8)
    # Back in reserved since day 8: no duration while it is there.
    assert rows["reserved"].days is None and rows["reserved"].left_at is None
    assert rows["new"].days == Decimal("1.00")


def test_a_deal_that_never_moved_sits_in_its_first_stage(deal):
    facts_refreshed(STAGES)
    rows = _rows(deal)
    assert list(rows) == ["new"] and rows["new"].days is None


def test_a_move_marks_the_stage_fact_dirty_and_refresh_and_rebuild_agree(
    building, consultant, deal
):
    facts_refreshed(STAGES)
    walk(deal, consultant, T0, [("contacted", 1), ("visited", 2)])
    assert FactDirty.objects.filter(fact=STAGES, key=deal.pk).exists()
    sell(building, consultant, contract=True)
    facts_refreshed(STAGES)
    first = list(StageDuration.objects.order_by("id").values())
    assert (
        len(first) == 3 + 4
    )  # new, contacted, visited; new, reserved, subscribed, contracted
    insight.rebuild(only=[STAGES])
    assert list(StageDuration.objects.order_by("id").values()) == first


def test_the_deal_fact_knows_outcome_closing_month_and_cohort_months(
    building, consultant
):
    won = sell(building, consultant, contract=True)
    lost = sell(building, consultant, contract=False)
    # A subscription ends only through an approved cancellation (APPROVED_CHANGE_ONLY).
    lost.move_to("lost", actor=consultant, reason="competitor", change=approved(lost))
    open_deal = sell(building, consultant, contract=False)
    facts_refreshed(DEALS)
    this_month = timezone.localdate().replace(day=1)
    facts = {f.deal_id: f for f in DealFact.objects.all()}
    assert (facts[won.pk].outcome, facts[won.pk].closed_month) == ("won", this_month)
    assert (facts[lost.pk].outcome, facts[lost.pk].closed_month) == (
        "lost",
        this_month,
    )
    assert (facts[open_deal.pk].outcome, facts[open_deal.pk].closed_month) == ("", None)
    # Visited (logged on the timeline) and subscribed this month; signed only one.
    for deal in (won, lost, open_deal):
        assert facts[deal.pk].visit_month == this_month
        assert facts[deal.pk].subscribed_month == this_month
    assert facts[won.pk].contracted_month == this_month
    assert facts[lost.pk].contracted_month is None


def test_the_first_visit_is_the_earliest_visit_near_the_deal_or_its_move_to_visited(
    building, consultant
):
    customer = CustomerFactory(assigned_consultant=consultant)
    deal = services.opportunity_open(
        actor=consultant, customer=customer, project=building.project
    )
    walk(deal, consultant, T0, [("visited", 10)])
    facts_refreshed(DEALS)
    assert DealFact.objects.get(deal_id=deal.pk).first_visit_on == date(2026, 4, 9)
    # A visit logged on the timeline before the deal opened comes first; one a year
    # earlier (another project, another cohort) does not.
    for days in (5, 400):
        interaction_log(
            customer=customer,
            kind="visit",
            summary="到访",
            actor=consultant,
            occurred_at=T0 - timedelta(days=days),
        )
    facts_refreshed(DEALS)
    fact = DealFact.objects.get(deal_id=deal.pk)
    assert fact.first_visit_on == date(2026, 3, 25)
    assert fact.visit_month == date(2026, 3, 1)


def test_the_time_in_stage_source_pivots_and_drills_into_its_deals(
    client, building, consultant, far_consultant, sales_manager
):
    mine = [sell(building, consultant, contract=c) for c in (True, False)]
    sell(building, far_consultant, contract=True)  # another team's
    facts_refreshed(STAGES)
    source = insight.source_named(STAGES)
    table = insight.pivot(
        sales_manager, source, source.measure("deals"), [source.dimension("stage")]
    )
    assert table.cells[("subscribed", None)] == 2
    assert table.cells[("contracted", None)] == 1
    client.force_login(sales_manager)
    response = client.get(insight.drill_url(source, table.cell_filters("subscribed")))
    assert {d.pk for d in response.context["page"].items} == {d.pk for d in mine}
