"""The screens of a change after contract: the deal page asks, the approvals page
shows the refund under the project's rule, the decision applies it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from sales import services
from sales.models import ChangeRule, DealChange, DealRefund, Opportunity
from tests.factories import CustomerFactory, make_building
from tests.helpers import assert_queries_do_not_grow
from tests.sales.test_changes_after_contract import _pay, signed_deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def building(db):
    return make_building()


@pytest.fixture
def deal(building, consultant, own_customer):
    ChangeRule.objects.create(
        project=building.project,
        forfeit_basis="fixed",
        forfeit_contracted=Decimal("20000"),
    )
    return signed_deal(consultant, own_customer, building.units.order_by("pk").first())


def test_a_contracted_deal_offers_every_change_and_a_paid_one_no_unit_change(
    client, deal, consultant
):
    client.force_login(consultant)
    response = client.get(deal.get_absolute_url())
    kinds = dict(response.context["change_form"].fields["kind"].choices)
    assert set(kinds) == {"cancel", "change_unit", "change_buyer"}
    _pay(consultant, deal, deal.agreed_price)
    response = client.get(deal.get_absolute_url())
    kinds = dict(response.context["change_form"].fields["kind"].choices)
    assert set(kinds) == {"cancel", "change_buyer"}


def test_while_a_change_waits_the_deal_page_says_so_instead_of_offering_another(
    client, deal, consultant, sales_manager
):
    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="客户资金问题"
    )
    client.force_login(consultant)
    page = client.get(deal.get_absolute_url())
    assert page.context["change_form"] is None
    assert b'data-testid="change-pending"' in page.content
    assert b'data-testid="change-form"' not in page.content
    services.deal_change_decide(actor=sales_manager, change=change, approve=False)
    page = client.get(deal.get_absolute_url())
    assert b'data-testid="change-form"' in page.content
    assert b'data-testid="change-pending"' not in page.content


def test_asking_a_cancellation_after_contract_and_approving_it(
    client, deal, consultant, sales_manager
):
    client.force_login(consultant)
    response = client.post(
        reverse("sales:deal-change-create", args=[deal.pk]),
        {"kind": "cancel", "reason": "客户资金问题"},
    )
    assert response.status_code == 302
    change = DealChange.objects.get()
    assert change.stage == "contracted"
    client.force_login(sales_manager)
    page = client.get(reverse("sales:approval-list"))
    assert "¥80,000.00" in page.content.decode()
    shown = page.context["changes"][0].money
    assert (shown.forfeit, shown.refund) == (Decimal("20000"), Decimal("80000"))
    # Without the confirmation the manager is asked first, nothing changes.
    asked = client.post(
        reverse("sales:deal-change-decide", args=[change.pk]), {"decision": "approve"}
    )
    assert asked.status_code == 200 and "¥80,000.00" in asked.content.decode()
    change.refresh_from_db()
    assert change.status == "pending"
    client.post(
        reverse("sales:deal-change-decide", args=[change.pk]),
        {"decision": "approve", "confirmed": "1"},
    )
    deal.refresh_from_db()
    assert deal.stage == "lost"
    page = client.get(deal.get_absolute_url())
    assert b'data-testid="deal-refund"' in page.content


def test_others_deals_are_not_found_and_deciding_needs_the_manager(
    client, deal, consultant, other_consultant, far_consultant, sales_manager
):
    url = reverse("sales:deal-change-create", args=[deal.pk])
    client.force_login(other_consultant)
    assert client.post(url, {"kind": "cancel", "reason": "x"}).status_code == 404
    client.force_login(consultant)
    client.post(url, {"kind": "cancel", "reason": "x"})
    change = DealChange.objects.get()
    decide = reverse("sales:deal-change-decide", args=[change.pk])
    assert client.post(decide, {"decision": "approve"}).status_code == 403
    # Bad input: no decision, nothing decided.
    client.force_login(sales_manager)
    client.post(decide, {"decision": "maybe", "confirmed": "1"})
    change.refresh_from_db()
    assert change.status == "pending" and not DealRefund.objects.exists()


def test_the_approvals_page_queries_do_not_grow_with_changes(
    client, building, consultant, sales_manager
):
    ChangeRule.objects.create(project=building.project, buyer_change_fee=Decimal("1"))
    units = iter(building.units.order_by("pk"))
    client.force_login(sales_manager)

    def grow():
        for kind in ("cancel", "change_buyer", "cancel"):
            deal = signed_deal(
                consultant, CustomerFactory(assigned_consultant=consultant), next(units)
            )
            services.deal_change_request(
                actor=consultant,
                opportunity=deal,
                kind=kind,
                reason="x",
                new_customer=CustomerFactory(assigned_consultant=consultant)
                if kind == "change_buyer"
                else None,
            )

    grow()
    assert_queries_do_not_grow(
        lambda: client.get(reverse("sales:approval-list")), grow, at_most=25
    )


def _more_pending_changes(deal, count: int) -> None:
    """``count`` more pending cancellations, each on its own contracted deal of the
    same buyer and project (rows only: what the approvals page lists)."""
    deals = Opportunity.objects.bulk_create(
        Opportunity(
            customer_id=deal.customer_id,
            project_id=deal.project_id,
            consultant_id=deal.consultant_id,
            stage=Opportunity.Stage.CONTRACTED,
            agreed_price=deal.agreed_price,
        )
        for _ in range(count)
    )
    DealChange.objects.bulk_create(
        DealChange(
            opportunity=other,
            kind=DealChange.Kind.CANCEL,
            reason="x",
            requested_by_id=deal.consultant_id,
        )
        for other in deals
    )


def test_the_approvals_page_lists_every_change_the_overview_counts(
    client, deal, consultant, sales_manager
):
    from crm_site.overview import Scope, scope_key
    from sales import overview as sales_overview

    services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="不买了"
    )
    _more_pending_changes(deal, 120)
    waiting = sales_overview.current(
        Scope(user=sales_manager, project_id=None, key=scope_key(sales_manager))
    )["sales.approvals"]
    client.force_login(sales_manager)

    listed = []
    number = 1
    while True:
        response = client.get(reverse("sales:approval-list"), {"changes_page": number})
        changes_page = response.context["changes_page"]
        assert changes_page.total == waiting == 121
        listed += [change.pk for change in response.context["changes"]]
        if not changes_page.has_next:
            break
        assert f"changes_page={number + 1}" in response.content.decode()
        number += 1

    assert number == 5
    assert sorted(listed) == sorted(
        DealChange.objects.filter(status="pending").values_list("pk", flat=True)
    )


def test_the_approvals_pages_keep_the_other_lists_page_and_the_project(
    client, deal, consultant, sales_manager
):
    services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="不买了"
    )
    _more_pending_changes(deal, 30)
    client.force_login(sales_manager)

    response = client.get(
        reverse("sales:approval-list"),
        {"project": deal.project_id, "changes_page": 2},
    )

    assert response.context["changes_page"].number == 2
    assert len(response.context["changes"]) == 6
    body = response.content.decode()
    assert f"project={deal.project_id}&amp;changes_page=1" in body
    assert response.context["filter_query"] == (
        f"project={deal.project_id}&changes_page=2"
    )


def test_the_approvals_changes_list_offers_the_shared_page_links_and_jump(
    client, deal, consultant, sales_manager
):
    """The changes' links are the shared component's, by ?changes_page: the total
    and the page jump, the project kept."""
    services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="不买了"
    )
    _more_pending_changes(deal, 30)
    client.force_login(sales_manager)

    body = client.get(
        reverse("sales:approval-list"),
        {"project": deal.project_id},
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()

    changes = body.split('data-testid="change-approvals"')[1].split(
        'data-testid="approvals"'
    )[0]
    assert f"project={deal.project_id}&amp;changes_page=2" in changes
    assert "31 matches" in changes
    jump = changes.split('data-testid="page-jump"')[1].split("</form>")[0]
    assert 'name="changes_page"' in jump
    assert f'<input type="hidden" name="project" value="{deal.project_id}">' in jump


def test_the_approvals_page_queries_do_not_grow_with_pages_of_changes(
    client, deal, consultant, sales_manager
):
    services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="不买了"
    )
    _more_pending_changes(deal, 30)
    client.force_login(sales_manager)
    assert_queries_do_not_grow(
        lambda: client.get(reverse("sales:approval-list")),
        lambda: _more_pending_changes(deal, 60),
        at_most=30,
    )
