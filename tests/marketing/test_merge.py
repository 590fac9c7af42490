from __future__ import annotations

from customers.services.merge import customer_merge, customer_merge_restore
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
