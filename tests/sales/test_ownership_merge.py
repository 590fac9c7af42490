"""Protection and ownership follow a customer merge by the protection rules, and come
back exactly on undo."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone, translation

from crm_site.models import AuditEntry, Notification
from crm_site.roles import Role
from customers.models import Customer, CustomerAccess
from customers.services.merge import customer_merge, customer_merge_restore
from sales.models import (
    FollowUpEscalation,
    Opportunity,
    OwnershipEvent,
    Project,
    Registration,
)
from tests.factories import CustomerFactory, UserFactory, register_at
from tests.helpers import count_queries, customer_page

pytestmark = pytest.mark.django_db

MERGE_KINDS = {"merge_moved", "merge_kept", "merge_ended", "merge_undone"}


@pytest.fixture
def third_consultant(team):
    return UserFactory(
        username="consultant4",
        last_name="赵",
        first_name="敏",
        team=team,
        role=Role.CONSULTANT,
    )


def project(name: str) -> Project:
    return Project.objects.create(name=name)


# A visit registration made `days_ago` (protected for the visit window, 7 days).
register = register_at


def merge(survivor, absorbed, actor, **choices):
    return customer_merge(
        actor=actor, survivor=survivor, absorbed=absorbed, choices=choices
    )


def refreshed(*rows):
    for row in rows:
        row.refresh_from_db()
    return rows


def detail(client, user, customer) -> int:
    client.force_login(user)
    url = reverse("customers:customer-detail", args=[customer.pk])
    return client.get(url).status_code


# Registrations at different projects ----------------------------------------------


def test_the_consultant_who_owned_the_absorbed_customer_opens_the_survivor(
    client, consultant, other_consultant, sales_manager
):
    survivor, absorbed = CustomerFactory(), CustomerFactory()
    register(survivor, consultant, project("一期"), days_ago=1)
    mine = register(absorbed, other_consultant, project("二期"), days_ago=1)
    assert detail(client, other_consultant, survivor) == 404

    record = merge(survivor, absorbed, sales_manager)

    assert detail(client, other_consultant, survivor) == 200
    assert detail(client, consultant, survivor) == 200
    (mine,) = refreshed(mine)
    assert (mine.customer, mine.status) == (survivor, "protected")
    assert record.moved["sales.registration"] == [mine.pk]
    event = OwnershipEvent.objects.get(kind="merge_moved")
    assert (event.customer, event.registration, event.actor) == (
        survivor,
        mine,
        sales_manager,
    )
    told = Notification.objects.get(
        user=other_consultant, event="sales.merge_protection_continues"
    )
    assert "二期" in told.params["projects"]
    assert told.url == survivor.get_absolute_url()


def test_ownership_history_access_and_escalations_move_with_the_registrations(
    consultant, other_consultant, sales_manager
):
    survivor, absorbed = CustomerFactory(), CustomerFactory()
    register(survivor, consultant, project("一期"), days_ago=1)
    register(absorbed, other_consultant, project("二期"), days_ago=1)
    history = list(absorbed.ownership_events.values_list("pk", flat=True))
    access = CustomerAccess.objects.get(customer=absorbed, user=other_consultant)
    escalation = FollowUpEscalation.objects.create(
        customer=absorbed, consultant=other_consultant, due_date=timezone.localdate()
    )

    record = merge(survivor, absorbed, sales_manager)

    assert set(
        OwnershipEvent.objects.filter(pk__in=history).values_list(
            "customer_id", flat=True
        )
    ) == {survivor.pk}
    assert record.moved["sales.ownershipevent"] == history
    assert CustomerAccess.objects.get(pk=access.pk).customer == survivor
    assert FollowUpEscalation.objects.get(pk=escalation.pk).customer == survivor


def test_an_escalation_the_survivor_already_has_for_that_date_stays_behind(
    consultant, sales_manager
):
    survivor, absorbed = CustomerFactory(), CustomerFactory()
    today = timezone.localdate()
    FollowUpEscalation.objects.create(
        customer=survivor, consultant=consultant, due_date=today
    )
    twin = FollowUpEscalation.objects.create(
        customer=absorbed, consultant=consultant, due_date=today
    )
    later = FollowUpEscalation.objects.create(
        customer=absorbed, consultant=consultant, due_date=today + timedelta(days=1)
    )

    record = merge(survivor, absorbed, sales_manager)

    assert FollowUpEscalation.objects.get(pk=twin.pk).customer == absorbed
    assert FollowUpEscalation.objects.get(pk=later.pk).customer == survivor
    assert record.moved["sales.followupescalation"] == [later.pk]


# Both registered at one project ---------------------------------------------------


def test_at_one_project_the_earlier_protection_wins_and_the_later_one_ends(
    client, consultant, other_consultant, sales_manager
):
    survivor, absorbed = CustomerFactory(), CustomerFactory()
    shared = project("一期")
    earlier = register(survivor, consultant, shared, days_ago=5)
    later = register(absorbed, other_consultant, shared, days_ago=2)

    merge(survivor, absorbed, sales_manager)

    earlier, later = refreshed(earlier, later)
    assert (earlier.customer, earlier.status) == (survivor, "protected")
    assert (later.customer, later.status) == (survivor, "ended")
    assert later.ended_at is not None
    # Both facts on the survivor's ownership history.
    kept = OwnershipEvent.objects.get(kind="merge_kept")
    ended = OwnershipEvent.objects.get(kind="merge_ended")
    assert (kept.customer, kept.registration, kept.consultant) == (
        survivor,
        earlier,
        consultant,
    )
    assert (ended.customer, ended.registration, ended.consultant) == (
        survivor,
        later,
        other_consultant,
    )
    # The other consultant is told, without a link to a customer no longer theirs.
    told = Notification.objects.get(
        user=other_consultant, event="sales.merge_registration_ended"
    )
    assert "一期" in told.params["projects"]
    assert consultant.display_name in told.text and told.url == ""
    assert not CustomerAccess.objects.filter(
        customer=survivor, user=other_consultant
    ).exists()
    assert detail(client, other_consultant, survivor) == 404
    survivor.refresh_from_db()
    assert survivor.assigned_consultant == consultant


def test_the_absorbed_customers_earlier_protection_wins_and_takes_the_customer(
    client, consultant, other_consultant, sales_manager
):
    survivor, absorbed = CustomerFactory(), CustomerFactory()
    shared = project("一期")
    theirs = register(absorbed, other_consultant, shared, days_ago=5)
    mine = register(survivor, consultant, shared, days_ago=2)

    merge(survivor, absorbed, sales_manager)

    theirs, mine = refreshed(theirs, mine)
    assert (theirs.customer, theirs.status) == (survivor, "protected")
    assert mine.status == "ended"
    survivor.refresh_from_db()
    assert survivor.assigned_consultant == other_consultant
    assert detail(client, other_consultant, survivor) == 200
    assert detail(client, consultant, survivor) == 404
    assert Notification.objects.filter(
        user=consultant, params__projects__icontains=other_consultant.display_name
    ).exists()
    # The owner change and the registrations are both in the audit trail.
    entries = AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Customer),
        object_id=survivor.pk,
    )
    assert any("registrations" in e.changes for e in entries)
    assert any(
        e.changes.get("assigned_consultant", {}).get("new") == str(other_consultant)
        for e in entries
    )


def test_an_expired_protection_loses_to_a_later_valid_one(
    consultant, other_consultant, sales_manager
):
    survivor, absorbed = CustomerFactory(), CustomerFactory()
    shared = project("一期")
    # Registered earlier, but its 7 days ran out (the sweep has not run yet).
    expired = register(absorbed, other_consultant, shared, days_ago=10)
    valid = register(survivor, consultant, shared, days_ago=2)

    merge(survivor, absorbed, sales_manager)

    expired, valid = refreshed(expired, valid)
    assert (expired.status, valid.status) == ("ended", "protected")


def test_a_subscribed_deal_keeps_an_expired_protection_valid(
    consultant, other_consultant, sales_manager
):
    survivor, absorbed = CustomerFactory(), CustomerFactory()
    shared = project("一期")
    held = register(absorbed, other_consultant, shared, days_ago=10)
    Opportunity.objects.create(
        customer=absorbed,
        project=shared,
        consultant=other_consultant,
        stage=Opportunity.Stage.SUBSCRIBED,
    )
    later = register(survivor, consultant, shared, days_ago=2)

    merge(survivor, absorbed, sales_manager)

    held, later = refreshed(held, later)
    assert (held.status, later.status) == ("protected", "ended")


def test_the_absorbed_customers_consultant_without_a_registration_keeps_sight(
    client, consultant, other_consultant, sales_manager
):
    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=other_consultant)

    record = merge(survivor, absorbed, sales_manager)

    assert detail(client, other_consultant, survivor) == 200
    access = CustomerAccess.objects.get(customer=survivor, user=other_consultant)
    assert access.reason == "merge"
    customer_merge_restore(actor=sales_manager, record=record)
    assert not CustomerAccess.objects.filter(pk=access.pk).exists()


# Undo -----------------------------------------------------------------------------


def test_undo_revives_the_ended_registration_with_its_original_dates(
    consultant, other_consultant, sales_manager
):
    survivor, absorbed = CustomerFactory(), CustomerFactory()
    shared = project("一期")
    theirs = register(absorbed, other_consultant, shared, days_ago=5)
    mine = register(survivor, consultant, shared, days_ago=2)
    before = Registration.objects.filter(pk=mine.pk).values().get()
    access = CustomerAccess.objects.get(customer=survivor, user=consultant)
    record = merge(survivor, absorbed, sales_manager)
    Notification.objects.all().delete()

    customer_merge_restore(actor=sales_manager, record=record)

    assert Registration.objects.filter(pk=mine.pk).values().get() == before
    theirs.refresh_from_db()
    assert (theirs.customer, theirs.status) == (absorbed, "protected")
    # The access row the merge took away is back, the same row.
    back = CustomerAccess.objects.get(pk=access.pk)
    assert (back.customer, back.user, back.granted_at) == (
        survivor,
        consultant,
        access.granted_at,
    )
    survivor.refresh_from_db()
    assert survivor.assigned_consultant == consultant
    # History is not rewritten: the merge's entries stay, "merge undone" is added.
    undone = OwnershipEvent.objects.filter(kind="merge_undone")
    assert {(e.registration_id, e.customer_id) for e in undone} == {
        (mine.pk, survivor.pk),
        (theirs.pk, absorbed.pk),
    }
    ended = OwnershipEvent.objects.get(kind="merge_ended")
    assert (ended.registration, ended.customer) == (mine, survivor)
    assert OwnershipEvent.objects.get(kind="merge_kept").customer == absorbed
    assert set(Notification.objects.values_list("user_id", flat=True)) == {
        consultant.pk,
        other_consultant.pk,
    }


def test_undo_leaves_ended_a_registration_whose_project_was_taken_since(
    consultant, other_consultant, third_consultant, sales_manager
):
    survivor, absorbed = CustomerFactory(), CustomerFactory()
    shared = project("一期")
    register(absorbed, other_consultant, shared, days_ago=5)
    mine = register(survivor, consultant, shared, days_ago=2)
    record = merge(survivor, absorbed, sales_manager)
    # The winner's protection ended since, and a third consultant took the project.
    Registration.objects.filter(
        customer=survivor, project=shared, status="protected"
    ).update(status="lapsed")
    register(survivor, third_consultant, shared, days_ago=0)

    customer_merge_restore(actor=sales_manager, record=record)

    mine.refresh_from_db()
    assert mine.status == "ended"
    assert OwnershipEvent.objects.filter(
        kind="merge_undone", registration=mine
    ).exists()


# Cost -----------------------------------------------------------------------------


def _merge_queries(
    consultant, other_consultant, sales_manager, rows: int, run: str = ""
) -> tuple[int, int]:
    survivor, absorbed = CustomerFactory(), CustomerFactory()
    shared = project(f"共同-{rows}{run}")
    register(survivor, consultant, shared, days_ago=1)
    register(absorbed, other_consultant, shared, days_ago=2)
    for n in range(rows):
        register(
            absorbed, other_consultant, project(f"项目-{rows}-{n}{run}"), days_ago=1
        )
        FollowUpEscalation.objects.create(
            customer=absorbed,
            consultant=other_consultant,
            due_date=timezone.localdate() - timedelta(days=n),
        )
    done = {}
    merging = count_queries(
        lambda: done.update(record=merge(survivor, absorbed, sales_manager))
    )
    undoing = count_queries(
        lambda: customer_merge_restore(actor=sales_manager, record=done["record"])
    )
    return merging, undoing


def test_merge_and_undo_queries_do_not_grow_with_registrations_and_history(
    consultant, other_consultant, sales_manager
):
    # Once to warm what the process caches (content types, a cached rule or
    # choice an earlier test may or may not have left): the first merge of a
    # process runs ~6 queries more, which made the comparison depend on the order.
    _merge_queries(consultant, other_consultant, sales_manager, rows=1, run="warm")
    few = _merge_queries(consultant, other_consultant, sales_manager, rows=1)
    many = _merge_queries(consultant, other_consultant, sales_manager, rows=6)
    assert many[0] <= few[0], f"merge: {few[0]} queries, then {many[0]}"
    assert many[1] <= few[1], f"undo: {few[1]} queries, then {many[1]}"


def test_undo_gives_back_an_access_row_that_came_from_the_absorbed_customer(
    client, consultant, other_consultant, sales_manager
):
    survivor, absorbed = CustomerFactory(), CustomerFactory()
    shared = project("一期")
    register(survivor, consultant, shared, days_ago=5)
    register(absorbed, other_consultant, shared, days_ago=2)
    theirs = CustomerAccess.objects.get(customer=absorbed, user=other_consultant)
    record = merge(survivor, absorbed, sales_manager)
    assert not CustomerAccess.objects.filter(pk=theirs.pk).exists()

    customer_merge_restore(actor=sales_manager, record=record)

    back = CustomerAccess.objects.get(pk=theirs.pk)
    assert (back.customer, back.user, back.reason, back.granted_at) == (
        absorbed,
        other_consultant,
        theirs.reason,
        theirs.granted_at,
    )
    assert detail(client, other_consultant, absorbed) == 200


def test_the_customer_page_shows_the_merge_on_the_ownership_history(
    client, consultant, other_consultant, sales_manager
):
    survivor, absorbed = CustomerFactory(), CustomerFactory()
    shared = project("一期")
    register(survivor, consultant, shared, days_ago=5)
    register(absorbed, other_consultant, shared, days_ago=2)
    merge(survivor, absorbed, sales_manager)

    client.force_login(consultant)
    text = customer_page(client, survivor)
    with translation.override("zh-hans"):
        assert str(OwnershipEvent.Kind.MERGE_KEPT.label) in text
        assert str(OwnershipEvent.Kind.MERGE_ENDED.label) in text
