from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone, translation

from customers.models import Customer, MergeRecord
from customers.services.merge import (
    MergeRefused,
    customer_merge,
    customer_merge_restore,
    customer_snapshot,
)
from marketing import services
from marketing.models import CampaignMember, Response
from tests.factories import CustomerFactory
from tests.marketing.conftest import make_campaign


def test_memberships_follow_a_merged_customer_and_come_back_on_undo(
    running, marketer, sales_manager, consultant, project
):
    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant)
    member = CampaignMember.objects.create(campaign=running, customer=absorbed)
    services.checkin_by_code(actor=marketer, campaign=running, code=member.code)
    # Both were invited to another campaign: that membership stays where it was.
    other = make_campaign(marketer, project, name="另一场")
    CampaignMember.objects.create(campaign=other, customer=survivor)
    twin = CampaignMember.objects.create(campaign=other, customer=absorbed)

    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    member.refresh_from_db()
    assert member.customer == survivor
    assert Response.objects.get().customer == survivor
    assert CampaignMember.objects.get(pk=twin.pk).customer == absorbed
    assert record.moved["marketing.campaignmember"] == [member.pk]

    customer_merge_restore(actor=sales_manager, record=record)
    member.refresh_from_db()
    assert member.customer == absorbed
    assert Response.objects.get().customer == absorbed


def test_the_timeline_links_to_the_campaign(running, marketer, consultant):
    from customers.models import Interaction

    member = CampaignMember.objects.create(
        campaign=running, customer=CustomerFactory(assigned_consultant=consultant)
    )
    services.checkin_by_code(actor=marketer, campaign=running, code=member.code)
    entry = Interaction.objects.get(customer=member.customer)
    assert entry.link_url == running.get_absolute_url()


def test_merged_twins_who_were_both_members_count_once_in_the_campaigns_figures(
    running, marketer, sales_manager, consultant
):
    from datetime import timedelta

    from marketing.selectors import campaign_returns

    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant)
    theirs = CampaignMember.objects.create(campaign=running, customer=survivor)
    twin = CampaignMember.objects.create(campaign=running, customer=absorbed)
    # Both signed up (the absorbed record first), and only the absorbed came.
    first = services.response_record(actor=marketer, member=twin, kind="signup")[0]
    later = services.response_record(actor=marketer, member=theirs, kind="signup")[0]
    Response.objects.filter(pk=first.pk).update(at=later.at - timedelta(days=1))
    came = services.checkin_by_code(actor=marketer, campaign=running, code=twin.code)[0]
    before = campaign_returns(campaign_ids=[running.pk])[running.pk]
    assert (before.members, before.responses, before.visits) == (2, 2, 1)

    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    after = campaign_returns(campaign_ids=[running.pk])[running.pk]
    assert (after.members, after.responses, after.visits) == (1, 1, 1)
    # The survivor's membership holds the earliest sign-up and the check-in.
    kept = {r.kind: r.pk for r in Response.objects.filter(member=theirs)}
    assert kept == {"signup": first.pk, "checkin": came.pk}
    assert set(
        Response.objects.filter(member=theirs).values_list("customer", flat=True)
    ) == {survivor.pk}
    assert Response.objects.get(pk=later.pk).member_id == twin.pk

    customer_merge_restore(actor=sales_manager, record=record)
    rows = {r.pk: (r.member_id, r.customer_id, r.kind) for r in Response.objects.all()}
    assert rows == {
        first.pk: (twin.pk, absorbed.pk, "signup"),
        later.pk: (theirs.pk, survivor.pk, "signup"),
        came.pk: (twin.pk, absorbed.pk, "checkin"),
    }
    again = campaign_returns(campaign_ids=[running.pk])[running.pk]
    assert (again.members, again.responses, again.visits) == (2, 2, 1)


def test_the_door_counts_merged_twins_who_both_checked_in_once(
    client, running, marketer, sales_manager, consultant
):
    from django.urls import reverse

    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant)
    theirs = CampaignMember.objects.create(campaign=running, customer=survivor)
    twin = CampaignMember.objects.create(campaign=running, customer=absorbed)
    # The same person, on two records, was let in twice at the door.
    services.checkin_by_code(actor=marketer, campaign=running, code=twin.code)
    services.checkin_by_code(actor=marketer, campaign=running, code=theirs.code)
    url = reverse("marketing:campaign-checkin", args=[running.pk])
    client.force_login(marketer)
    assert client.get(url).context["checked_in"] == 2

    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert page.context["checked_in"] == 1
    assert "1 guest checked in" in page.content.decode()

    customer_merge_restore(actor=sales_manager, record=record)
    assert client.get(url).context["checked_in"] == 2


def _two_merges_into_one_survivor(running, marketer, sales_manager, consultant):
    """Three records of one person, all members of the campaign: the first twin
    signed up, the second twin signed up a day earlier; both merged into the
    survivor, the first, then the second (whose earlier sign-up takes the first
    twin's place on the survivor's membership)."""
    survivor = CustomerFactory(assigned_consultant=consultant)
    first_twin = CustomerFactory(assigned_consultant=consultant)
    second_twin = CustomerFactory(assigned_consultant=consultant)
    CampaignMember.objects.create(campaign=running, customer=survivor)
    member_a = CampaignMember.objects.create(campaign=running, customer=first_twin)
    member_x = CampaignMember.objects.create(campaign=running, customer=second_twin)
    signed_a = services.response_record(actor=marketer, member=member_a, kind="signup")
    signed_x = services.response_record(actor=marketer, member=member_x, kind="signup")
    Response.objects.filter(pk=signed_x[0].pk).update(
        at=signed_a[0].at - timedelta(days=1)
    )
    first = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=first_twin, choices={}
    )
    second = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=second_twin, choices={}
    )
    back = {
        signed_a[0].pk: (member_a.pk, first_twin.pk),
        signed_x[0].pk: (member_x.pk, second_twin.pk),
    }
    return first, second, back


def _responses() -> dict[int, tuple[int, int]]:
    return {r.pk: (r.member_id, r.customer_id) for r in Response.objects.all()}


def test_undoing_two_merges_into_one_survivor_latest_first_puts_every_response_back(
    running, marketer, sales_manager, consultant
):
    first, second, back = _two_merges_into_one_survivor(
        running, marketer, sales_manager, consultant
    )
    customer_merge_restore(actor=sales_manager, record=second)
    customer_merge_restore(actor=sales_manager, record=first)
    assert _responses() == back


def test_undoing_the_older_of_two_merges_whose_responses_the_later_moved_waits_for_it(
    running, marketer, sales_manager, consultant
):
    first, second, back = _two_merges_into_one_survivor(
        running, marketer, sales_manager, consultant
    )
    merged = _responses()
    # The older mistake first: it would put the sign-ups on the wrong people.
    with (
        translation.override("en"),
        pytest.raises(MergeRefused, match="moved campaign responses") as refused,
    ):
        customer_merge_restore(actor=sales_manager, record=first)
    assert f"#{second.absorbed_id}" in str(refused.value)
    assert _responses() == merged
    assert MergeRecord.objects.get(pk=first.pk).restored_at is None
    assert Customer.objects.get(pk=first.absorbed_id).merged_into_id
    # In the order the page then asks for, everything goes back.
    customer_merge_restore(actor=sales_manager, record=second)
    customer_merge_restore(actor=sales_manager, record=first)
    assert _responses() == back


def test_undoing_the_older_of_two_merges_that_folded_other_kinds_is_not_refused(
    running, marketer, sales_manager, consultant
):
    survivor = CustomerFactory(assigned_consultant=consultant)
    first_twin = CustomerFactory(assigned_consultant=consultant)
    second_twin = CustomerFactory(assigned_consultant=consultant)
    CampaignMember.objects.create(campaign=running, customer=survivor)
    member_a = CampaignMember.objects.create(campaign=running, customer=first_twin)
    member_x = CampaignMember.objects.create(campaign=running, customer=second_twin)
    signed = services.response_record(actor=marketer, member=member_a, kind="signup")
    came = services.checkin_by_code(
        actor=marketer, campaign=running, code=member_x.code
    )
    first = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=first_twin, choices={}
    )
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=second_twin, choices={}
    )

    customer_merge_restore(actor=sales_manager, record=first)
    rows = _responses()
    assert rows[signed[0].pk] == (member_a.pk, first_twin.pk)
    assert Response.objects.get(pk=came[0].pk).customer_id == survivor.pk


def test_undoing_a_merge_whose_membership_a_later_merge_folded_into_waits_for_it(
    running, marketer, sales_manager, consultant
):
    """The first twin's membership moved to the survivor (not a member yet) with its
    sign-up; the second twin's earlier sign-up then took that membership's place."""
    survivor = CustomerFactory(assigned_consultant=consultant)
    first_twin = CustomerFactory(assigned_consultant=consultant)
    second_twin = CustomerFactory(assigned_consultant=consultant)
    member_a = CampaignMember.objects.create(campaign=running, customer=first_twin)
    member_x = CampaignMember.objects.create(campaign=running, customer=second_twin)
    signed_a = services.response_record(actor=marketer, member=member_a, kind="signup")
    signed_x = services.response_record(actor=marketer, member=member_x, kind="signup")
    Response.objects.filter(pk=signed_x[0].pk).update(
        at=signed_a[0].at - timedelta(days=1)
    )
    first = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=first_twin, choices={}
    )
    second = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=second_twin, choices={}
    )
    assert Response.objects.get(pk=signed_x[0].pk).member_id == member_a.pk

    with pytest.raises(MergeRefused):
        customer_merge_restore(actor=sales_manager, record=first)
    customer_merge_restore(actor=sales_manager, record=second)
    customer_merge_restore(actor=sales_manager, record=first)
    assert _responses() == {
        signed_a[0].pk: (member_a.pk, first_twin.pk),
        signed_x[0].pk: (member_x.pk, second_twin.pk),
    }
    assert CampaignMember.objects.get(pk=member_a.pk).customer_id == first_twin.pk


def _old_chain(running, consultant, *, swap: bool):
    """Merges made before marketing folded responses: A into B (both members: A's
    membership stayed with A, its check-in with it), then B into C (C no member:
    B's membership moved on to C). With ``swap``, B had checked in too, later."""
    a, b, c = (CustomerFactory(assigned_consultant=consultant) for _ in range(3))
    member_a = CampaignMember.objects.create(campaign=running, customer=a)
    member_b = CampaignMember.objects.create(campaign=running, customer=b)
    now = timezone.now()
    came = Response.objects.create(
        campaign=running, member=member_a, customer=a, kind="checkin"
    )
    theirs = None
    if swap:
        theirs = Response.objects.create(
            campaign=running, member=member_b, customer=b, kind="checkin"
        )
        Response.objects.filter(pk=came.pk).update(at=now - timedelta(days=3))
    first = MergeRecord.objects.create(
        survivor=b,
        absorbed=a,
        merged_at=now - timedelta(days=2),
        survivor_before=customer_snapshot(b),
        absorbed_before=customer_snapshot(a),
    )
    Customer.objects.filter(pk=a.pk).update(merged_into=b)
    moved = {"marketing.campaignmember": [member_b.pk]}
    if theirs is not None:
        moved["marketing.response"] = [theirs.pk]
    second = MergeRecord.objects.create(
        survivor=c,
        absorbed=b,
        merged_at=now - timedelta(days=1),
        survivor_before=customer_snapshot(c),
        absorbed_before=customer_snapshot(b),
        moved=moved,
    )
    Customer.objects.filter(pk=b.pk).update(merged_into=c)
    CampaignMember.objects.filter(pk=member_b.pk).update(customer=c)
    Response.objects.filter(member=member_b).update(customer=c)
    return (a, b, c), (member_a, member_b), (came, theirs), (first, second)


def _fold():
    """Migration 0013's fold, with the models as they were at that migration."""
    name = "0013_fold_merged_twins_responses"
    state = MigrationLoader(connection).project_state(("marketing", name))
    importlib.import_module(f"marketing.migrations.{name}").fold(state.apps, None)


def test_the_fold_migration_folds_a_chain_of_old_merges_into_its_last_survivor(
    running, consultant, sales_manager
):
    from marketing.selectors import checked_in_count

    (a, b, c), (member_a, member_b), (came, _), (first, second) = _old_chain(
        running, consultant, swap=False
    )
    # The check-in is on a merged-away record: the figures leave it out.
    assert checked_in_count(campaign=running) == 0

    _fold()
    _fold()  # running it again folds nothing more

    came.refresh_from_db()
    assert (came.member_id, came.customer_id) == (member_b.pk, c.pk)
    assert checked_in_count(campaign=running) == 1
    # The undo, in the order it is allowed, puts the check-in back on A.
    customer_merge_restore(actor=sales_manager, record=second)
    came.refresh_from_db()
    assert (came.member_id, came.customer_id) == (member_b.pk, b.pk)
    customer_merge_restore(actor=sales_manager, record=first)
    came.refresh_from_db()
    assert (came.member_id, came.customer_id) == (member_a.pk, a.pk)


def test_the_fold_migration_keeps_the_earlier_check_in_of_a_chain_and_undoes_it(
    running, consultant, sales_manager
):
    (a, b, c), (member_a, member_b), (came, theirs), (first, second) = _old_chain(
        running, consultant, swap=True
    )

    _fold()

    assert _responses() == {
        came.pk: (member_b.pk, c.pk),
        theirs.pk: (member_a.pk, a.pk),
    }
    customer_merge_restore(actor=sales_manager, record=second)
    assert _responses() == {
        came.pk: (member_b.pk, b.pk),
        theirs.pk: (member_a.pk, a.pk),
    }
    customer_merge_restore(actor=sales_manager, record=first)
    assert _responses() == {
        came.pk: (member_a.pk, a.pk),
        theirs.pk: (member_b.pk, b.pk),
    }
