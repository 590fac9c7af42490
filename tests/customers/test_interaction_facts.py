"""Interactions in the explorer (customers.insight_interactions) and the follow-up
records list they drill into (customers.views.interactions): the monthly fact is
exact, follows changes through its triggers, counts what the user may see, and every
cell opens exactly the interactions it summed."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_site import insight
from crm_site.models import FactDirty
from customers.insight_interactions import KEY, SOURCE, month_key
from customers.models import CustomerAccess, Interaction, InteractionFact
from customers.views.interactions import visible_interactions
from tests.factories import CustomerFactory
from tests.insight_fixtures import facts_refreshed

pytestmark = [pytest.mark.django_db, pytest.mark.unaudited]


def at(y: int, m: int, d: int, h: int = 10, mi: int = 0) -> datetime:
    return timezone.make_aware(datetime(y, m, d, h, mi))


def log(customer, by, when, kind="call_out", channel="phone") -> Interaction:
    return Interaction.objects.create(
        customer=customer,
        kind=kind,
        channel=channel,
        summary="电话跟进",
        occurred_at=when,
        created_by=by,
    )


@pytest.fixture
def world(consultant, other_consultant, far_consultant):
    """Customers of the team (two consultants), of another team, and of the pool."""
    mine = CustomerFactory(assigned_consultant=consultant, name="张三")
    theirs = CustomerFactory(assigned_consultant=other_consultant)
    far = CustomerFactory(assigned_consultant=far_consultant, consent_sms=False)
    pool = CustomerFactory(assigned_consultant=None)
    log(mine, consultant, at(2026, 1, 5))
    log(mine, consultant, at(2026, 1, 31, 23, 30), kind="visit", channel="face_to_face")
    log(mine, consultant, at(2026, 2, 1, 0, 10), kind="wechat", channel="wechat")
    log(theirs, other_consultant, at(2026, 1, 20))
    log(far, far_consultant, at(2026, 1, 7))
    log(far, far_consultant, at(2026, 2, 7), kind="note", channel="")
    log(pool, None, at(2026, 2, 9), kind="call_in")
    facts_refreshed(KEY)
    return {"mine": mine, "theirs": theirs, "far": far, "pool": pool}


def fact_rows() -> list[tuple]:
    return sorted(
        InteractionFact.objects.values_list(
            "month_key",
            "kind",
            "channel",
            "consultant_id",
            "team_id",
            "owned",
            "owner_team_id",
            "access_users",
            "access_teams",
            "consented",
            "service",
            "interactions",
        ),
        key=repr,
    )


def total(user, **filters) -> int:
    table = insight.pivot(user, SOURCE, SOURCE.measure("interactions"), [], filters)
    return table.total or 0


def test_months_are_cut_in_the_sites_time_zone(world, executive):
    assert total(executive) == 7
    assert total(executive, month="2026-01-01") == 4  # 31 Jan 23:30 is January
    assert total(executive, month="2026-02-01") == 3
    keys = set(InteractionFact.objects.values_list("month_key", flat=True))
    assert keys == {month_key(at(2026, 1, 1).date()), month_key(at(2026, 2, 1).date())}


def test_refresh_and_rebuild_give_the_same_rows(world, consultant):
    log(world["mine"], consultant, at(2026, 3, 3))
    Interaction.objects.filter(kind="note").update(kind="call_out", channel="phone")
    facts_refreshed(KEY)
    refreshed = fact_rows()
    insight.rebuild(only=[KEY])
    assert fact_rows() == refreshed
    assert sum(r[-1] for r in refreshed) == Interaction.objects.count()


def planner_settings_changed() -> list[str]:
    """The planner settings that differ from the connection's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM pg_settings WHERE name IN ('enable_nestloop', 'work_mem')"
            " AND setting <> reset_val"
        )
        return [name for (name,) in cursor.fetchall()]


def test_the_facts_planner_settings_end_with_its_own_statements(world, consultant):
    """Inside a caller's transaction (demo_data, this test) the facts rebuilt or
    refreshed after this one are planned as usual: with nested loops off they cost
    a lateral join as disabled and PostgreSQL JIT-compiled them, seconds each."""
    assert planner_settings_changed() == []
    insight.rebuild(only=[KEY])
    assert planner_settings_changed() == []
    log(world["mine"], consultant, at(2026, 3, 3))
    facts_refreshed(KEY)
    assert planner_settings_changed() == []


def test_moving_and_deleting_interactions_reaches_both_months(world, executive):
    one = Interaction.objects.filter(occurred_at=at(2026, 1, 5)).get()
    Interaction.objects.filter(pk=one.pk).update(occurred_at=at(2026, 2, 5))
    facts_refreshed(KEY)
    assert total(executive, month="2026-01-01") == 3
    assert total(executive, month="2026-02-01") == 4
    Interaction.objects.filter(pk=one.pk).delete()
    facts_refreshed(KEY)
    assert total(executive) == 6


def test_scope_is_the_customers_the_user_may_see(
    world, sales_manager, executive, consultant, service_manager, far_consultant
):
    for user in (sales_manager, executive):
        assert total(user) == visible_interactions(user).count()
    # The team's customers and the pool, not the other team's.
    assert total(sales_manager) == 5
    assert total(executive) == 7
    # Without the right to analyse: nothing, whatever the customers they see.
    assert total(consultant) == 0
    assert total(service_manager) == 0
    assert SOURCE not in insight.sources_for(consultant)

    # A registration that gives the team access to the far customer (CustomerAccess).
    CustomerAccess.objects.create(customer=world["far"], user=consultant)
    facts_refreshed(KEY)
    assert total(sales_manager) == 7 == visible_interactions(sales_manager).count()


def test_reassigning_a_customer_or_a_user_moves_the_counts(
    world, sales_manager, far_consultant, other_team, other_consultant
):
    with connection.cursor() as cursor:  # as a bulk reassignment would
        cursor.execute(
            "UPDATE customers_customer SET assigned_consultant_id = %s WHERE id = %s",
            [other_consultant.pk, world["far"].pk],
        )
    facts_refreshed(KEY)
    assert total(sales_manager) == 7
    # A consultant moves to the other team: their customers go with them.
    type(other_consultant).objects.filter(pk=other_consultant.pk).update(
        team=other_team
    )
    facts_refreshed(KEY)
    sales_manager.refresh_from_db()
    assert total(sales_manager) == visible_interactions(sales_manager).count() == 4
    rows = InteractionFact.objects.filter(consultant_id=other_consultant.pk)
    assert set(rows.values_list("team_id", flat=True)) == {other_team.pk}


def test_an_update_that_changes_nothing_counted_marks_nothing(world):
    FactDirty.objects.filter(fact=KEY).delete()
    Interaction.objects.update(summary="改写")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE customers_customer SET notes = 'x', updated_at = now()")
    assert not FactDirty.objects.filter(fact=KEY).exists()


@pytest.mark.parametrize(
    "dims",
    [("month", "kind"), ("consultant", "channel"), ("team", "month"), ("kind",)],
)
def test_every_cell_equals_the_rows_its_drill_opens(world, client, sales_manager, dims):
    CustomerAccess.objects.create(customer=world["far"], user=sales_manager)
    facts_refreshed(KEY)
    table = insight.pivot(
        sales_manager,
        SOURCE,
        SOURCE.measure("interactions"),
        [SOURCE.dimension(d) for d in dims],
    )
    client.force_login(sales_manager)
    for (row, column), value in table.cells.items():
        filters = table.cell_filters(row, column)
        response = client.get(insight.drill_url(SOURCE, filters))
        assert response.status_code == 200
        page = response.context["page"]
        assert len(page.items) == value, (filters, value)
        assert response.context["drill"] is not None


def test_the_list_shows_names_linked_and_no_phone_numbers(world, client, sales_manager):
    client.force_login(sales_manager)
    response = client.get(reverse("customers:interaction-list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert len(response.context["page"].items) == 5
    assert world["mine"].get_absolute_url() in body and "张三" in body
    for customer in world.values():
        assert customer.mobile[3:] not in body and customer.mobile[-4:] not in body
    assert world["far"].get_absolute_url() not in body


def test_the_list_filters_by_date_kind_channel_and_author(
    world, client, executive, consultant
):
    client.force_login(executive)
    url = reverse("customers:interaction-list")

    def count(**params) -> int:
        response = client.get(url, params)
        assert response.status_code == 200
        return len(response.context["page"].items)

    assert count(start="2026-01-31", end="2026-01-31") == 1
    assert count(start="2026-02-01") == 3
    assert count(kind="visit") == 1
    assert count(channel="wechat") == 1
    assert count(consultant=consultant.pk) == 3


def test_bad_input_is_told_next_to_the_field(world, client, executive):
    client.force_login(executive)
    url = reverse("customers:interaction-list")
    response = client.get(url, {"start": "2026-02-01", "end": "2026-01-01"})
    assert response.status_code == 200
    assert response.context["form"].errors["end"]
    assert "field-error" in response.content.decode()
    assert not response.context["page"].items
    response = client.get(url, {"start": "not a date", "kind": "nonsense"})
    assert set(response.context["form"].errors) == {"start", "kind"}


def test_who_may_open_the_list(client, consultant, outsider, service_manager):
    url = reverse("customers:interaction-list")
    assert client.get(url).status_code == 302  # to sign in
    for user in (consultant, outsider, service_manager):
        client.force_login(user)
        assert client.get(url).status_code == 403
    client.force_login(consultant)
    assert client.post(url).status_code == 405


def test_queries_do_not_grow_with_rows(world, client, sales_manager, consultant):
    client.force_login(sales_manager)
    url = reverse("customers:interaction-list")
    client.get(url)  # warm the caches (permissions, team members)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    def more(n: int) -> None:
        for i in range(n):
            customer = CustomerFactory(assigned_consultant=consultant)
            log(customer, consultant, at(2026, 3, 1 + i % 20))

    more(25)  # more than a page: the list counts its rows
    few = queries()
    more(40)
    assert queries() == few


def test_a_merged_customer_leaves_the_counts_and_the_list(world, executive):
    with connection.cursor() as cursor:  # as a merge marks the absorbed customer
        cursor.execute(
            "UPDATE customers_customer SET merged_into_id = %s WHERE id = %s",
            [world["mine"].pk, world["theirs"].pk],
        )
    facts_refreshed(KEY)
    assert total(executive) == 6 == visible_interactions(executive).count()
