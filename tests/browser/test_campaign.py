"""Marketing's journey: build a segment watching the live count, run an e-mail
campaign (start, send), check a guest in by code at the door, see the return."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from playwright.sync_api import expect

from marketing.models import Campaign, CampaignMember
from marketing.services import invitations_send
from sales.models import Opportunity, Project
from tests.browser.test_customer_journey import login
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_marketer_runs_an_email_campaign_and_sees_its_return(
    page, screenshot, marketer, consultant, team, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    project = Project.objects.create(name="安居·御景湾")
    project.teams.add(team)
    for i in range(3):
        CustomerFactory(
            name=f"业主{i}",
            stage="owner",
            email=f"owner{i}@example.com",
            consent_email=True,
        )
    CustomerFactory.create_batch(2, stage="prospect")

    login(page, "marketer")
    page.goto("/marketing/segments/new/")
    count = page.get_by_test_id("segment-count-value")
    assert count.inner_text() == "5"
    page.locator("#id_name").fill("业主·邮件")
    page.locator("#id_stage").select_option("owner")
    # A locator wait, not wait_for_function: the CSP forbids evaluating strings.
    expect(count).to_have_text("3")
    page.locator("#id_consent").select_option("email")
    screenshot("70-segment-live-count")
    page.get_by_test_id("save-segment").click()
    page.wait_for_url("**/marketing/segments/")

    page.goto("/marketing/campaigns/new/")
    page.locator("#id_name").fill("业主答谢会")
    page.locator("#id_kind").select_option("email")
    page.locator("#id_project").select_option(label="安居·御景湾")
    page.locator("#id_segment").select_option(label="业主·邮件")
    page.locator("#id_starts_on").fill("2026-11-20")
    page.locator("#id_ends_on").fill("2026-12-20")
    page.locator("#id_budget").fill("30000")
    page.locator("#id_invite_email").check()
    page.locator("#id_email_subject").fill("诚邀您参加业主答谢会")
    page.locator("#id_message").fill("欢迎您和家人光临。")
    page.get_by_test_id("save-campaign").click()
    page.wait_for_url("**/marketing/campaigns/*/")
    campaign = Campaign.objects.get()

    page.get_by_test_id("start-campaign").click()
    page.wait_for_url(f"**/marketing/campaigns/{campaign.pk}/")
    assert CampaignMember.objects.filter(campaign=campaign).count() == 3
    page.get_by_test_id("send-invitations").click()
    # Sending asks first: the dialog counts the three recipients.
    dialog = page.locator("dialog[open]")
    expect(dialog.locator("h2")).to_contain_text("3")
    with page.expect_navigation():
        dialog.get_by_test_id("confirm-ok").click()
    page.wait_for_url(f"**/marketing/campaigns/{campaign.pk}/")
    # The worker's job, run here: the page's progress bar polls until it is done.
    invitations_send(campaign_id=campaign.pk)
    page.get_by_test_id("invitation-progress").locator(
        '[aria-valuenow="100"]'
    ).wait_for()
    assert len(mail.outbox) == 3
    page.locator("#id_item").fill("场地")
    page.locator("#id_amount").fill("20000")
    page.get_by_test_id("add-cost").click()
    page.wait_for_url(f"**/marketing/campaigns/{campaign.pk}/")
    screenshot("71-campaign-sent")

    guest = CampaignMember.objects.filter(campaign=campaign).order_by("pk").first()
    page.get_by_test_id("open-checkin").click()
    page.locator("#id_code").fill(guest.code.lower())
    page.get_by_test_id("checkin-button").click()
    result = page.get_by_test_id("checkin-result")
    result.wait_for()
    assert guest.customer.name in result.inner_text()
    screenshot("72-door-check-in")
    deal = Opportunity.objects.get(customer=guest.customer)
    assert deal.consultant == consultant and deal.campaign == campaign

    # The guest signs: the contract is credited to the campaign.
    Opportunity.objects.filter(pk=deal.pk).update(
        stage="contracted", agreed_price=Decimal("2000000")
    )
    page.goto("/marketing/dashboard/")
    row = page.get_by_test_id("return-by-campaign").locator("tr", has_text="业主答谢会")
    assert "100.00×" in row.inner_text()
    assert page.get_by_test_id("total-return").inner_text() == "100.00×"
    screenshot("73-marketing-dashboard")


def test_campaign_lists_members_and_the_public_sign_up_page(
    page, screenshot, marketer, settings
):
    import random

    from crm_site.models import User
    from marketing import demo_campaigns
    from marketing.models import Invitation
    from marketing.services.invitations import SIGNUP_SALT, public_token
    from tests.factories import UserFactory

    project = Project.objects.create(name="安居·御景湾")
    consultant = UserFactory(username="c1")
    CustomerFactory.create_batch(20, email="x@example.com", consent_email=True)
    CustomerFactory.create_batch(6, stage="owner")
    Opportunity.objects.create(
        customer=CustomerFactory(),
        project=project,
        consultant=consultant,
        stage="paid",
        agreed_price=Decimal("3100000"),
    )
    demo_campaigns.seed(random.Random(5), {u.username: u for u in User.objects.all()})
    login(page, "marketer")
    page.goto("/marketing/campaigns/")
    assert page.get_by_test_id("campaign-table").locator("tbody tr").count() == 4
    screenshot("74-campaign-list")
    running = Campaign.objects.get(status="running")
    page.goto(f"/marketing/campaigns/{running.pk}/members/")
    screenshot("75-campaign-members")
    invitation = Invitation.objects.filter(campaign=running).first()
    page.goto(f"/marketing/s/{public_token(invitation, SIGNUP_SALT)}/")
    page.get_by_test_id("signup-button").click()
    page.get_by_test_id("signed-up").wait_for()
    assert page.get_by_test_id("code").inner_text() == invitation.member.code_display
    screenshot("76-public-sign-up")
