from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sales.models import Project, Registration
from tests.browser.test_customer_journey import login
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_consultant_sees_the_day_and_claims_a_customer_from_the_pool(
    page, screenshot, consultant, team
):
    project = Project.objects.create(name="安居·御景湾")
    project.teams.add(team)
    today = timezone.localdate()
    CustomerFactory(
        name="今天回访", assigned_consultant=consultant, next_follow_up=today
    )
    CustomerFactory(
        name="逾期客户",
        assigned_consultant=consultant,
        next_follow_up=today - timedelta(days=2),
    )
    CustomerFactory(name="公海客户", mobile="+8613655556666", assigned_consultant=None)

    login(page, "consultant")
    page.wait_for_url("**/sales/today/")
    assert "今天回访" in page.get_by_test_id("due-today").inner_text()
    assert "逾期客户" in page.get_by_test_id("overdue").inner_text()
    screenshot("30-my-day")

    page.get_by_role("link", name="公海").first.click()
    page.wait_for_url("**/sales/pool/")
    row = page.get_by_test_id("pool-table").locator("tr", has_text="公海客户")
    assert "136****6666" in row.inner_text()
    screenshot("31-pool")
    row.get_by_role("button", name="领取").click()
    page.wait_for_url("**/customers/*/")
    page.get_by_test_id("ownership").get_by_text("安居·御景湾", exact=True).wait_for()
    screenshot("32-claimed")
    registration = Registration.objects.get()
    assert registration.consultant == consultant and registration.basis == "claim"
