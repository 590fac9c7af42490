"""Writing a clawback line off (核销): a sales manager decides a paid commission of a
cancelled deal will not be taken back — the consultant left, there is no next
settlement — with a reason, audited and on the customer's timeline."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation

from crm_site.audit import audit_entries_for
from crm_site.events import text_of
from customers.models import Interaction
from sales.models import Commission
from sales.services import commission_waive
from sales.services.commission import commission_claw_back, commission_mark_paid
from tests.factories import CustomerFactory, make_building
from tests.sales.test_changes_after_contract import _pay, signed_deal
from tests.sales.test_commission import _unit, percent_rule

pytestmark = pytest.mark.django_db

REASON = "顾问已离职，无法从结算中扣回"


@pytest.fixture
def building(db):
    building = make_building()
    percent_rule(building.project)
    return building


def clawback_line(building, who, n: int, manager) -> Commission:
    """The payable clawback line of a paid commission whose deal was cancelled."""
    deal = signed_deal(
        who, CustomerFactory(assigned_consultant=who), _unit(building, n)
    )
    _pay(who, deal, deal.agreed_price)
    commission_mark_paid(
        actor=manager, commission=Commission.objects.get(opportunity=deal)
    )
    commission_claw_back(deal=deal, actor=manager)
    return Commission.objects.get(opportunity=deal, kind=Commission.Kind.CLAWBACK)


@pytest.fixture
def line(building, consultant, sales_manager) -> Commission:
    return clawback_line(building, consultant, 0, sales_manager)


def _left(user) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


# The service ------------------------------------------------------------------------


def test_commission_waive_writes_a_payable_clawback_line_off_with_the_reason(
    line, consultant, sales_manager
):
    _left(consultant)

    assert commission_waive(actor=sales_manager, commission=line, reason=f" {REASON} ")

    line.refresh_from_db()
    assert (line.status, line.waive_reason, line.paid_by) == (
        "waived",
        REASON,
        sales_manager,
    )
    assert line.paid_at is not None
    changes = audit_entries_for(line).filter(action="update").get().changes
    assert changes["status"] == {"old": "payable", "new": "waived"}
    assert changes["waive_reason"]["new"] == REASON
    entry = Interaction.objects.get(
        customer=line.opportunity.customer, event="sales.commission_clawback_waived"
    )
    assert entry.created_by == sales_manager and entry.kind == "system"
    with translation.override("en"):
        text = text_of(entry.event, entry.params)
    assert REASON in text and consultant.display_name in text
    assert f"{-line.amount:,.2f}" in text


def test_commission_waive_a_second_time_returns_false_and_changes_nothing(
    line, sales_manager
):
    assert commission_waive(actor=sales_manager, commission=line, reason=REASON)
    assert not commission_waive(actor=sales_manager, commission=line, reason="again")
    line.refresh_from_db()
    assert line.waive_reason == REASON
    assert audit_entries_for(line).filter(action="update").count() == 1
    assert (
        Interaction.objects.filter(event="sales.commission_clawback_waived").count()
        == 1
    )


def test_commission_waive_works_for_a_consultant_still_with_the_company(
    line, sales_manager
):
    assert line.consultant.is_active
    assert commission_waive(actor=sales_manager, commission=line, reason=REASON)
    line.refresh_from_db()
    assert line.status == "waived"


def _unchanged(commission: Commission, status: str) -> None:
    commission.refresh_from_db()
    assert commission.status == status and commission.waive_reason == ""
    assert (
        not audit_entries_for(commission)
        .filter(changes__has_key="waive_reason")
        .exists()
    )
    assert not Interaction.objects.filter(
        event="sales.commission_clawback_waived"
    ).exists()


def test_commission_waive_refuses_a_sale_line(
    building, consultant, own_customer, sales_manager
):
    deal = signed_deal(consultant, own_customer, _unit(building))
    _pay(consultant, deal, deal.agreed_price)
    sale = Commission.objects.get(opportunity=deal)
    assert sale.status == "payable"

    with pytest.raises(ValidationError):
        commission_waive(actor=sales_manager, commission=sale, reason=REASON)

    _unchanged(sale, "payable")


def test_commission_waive_refuses_a_clawback_line_already_deducted(line, sales_manager):
    commission_mark_paid(actor=sales_manager, commission=line)

    with pytest.raises(ValidationError) as raised, translation.override("en"):
        commission_waive(actor=sales_manager, commission=line, reason=REASON)

    assert "deducted" in " ".join(raised.value.messages)
    _unchanged(line, "clawed_back")


@pytest.mark.parametrize("reason", ["", "   ", "长" * 201])
def test_commission_waive_refuses_a_blank_or_too_long_reason(
    line, sales_manager, reason
):
    with pytest.raises(ValidationError):
        commission_waive(actor=sales_manager, commission=line, reason=reason)

    _unchanged(line, "payable")


def test_a_written_off_line_is_not_then_marked_deducted(line, sales_manager):
    commission_waive(actor=sales_manager, commission=line, reason=REASON)

    with pytest.raises(ValidationError) as raised, translation.override("en"):
        commission_mark_paid(actor=sales_manager, commission=line)

    assert "written off" in " ".join(raised.value.messages)
    line.refresh_from_db()
    assert line.status == "waived"


def test_the_database_refuses_a_sale_line_written_off(
    building, consultant, own_customer
):
    deal = signed_deal(consultant, own_customer, _unit(building))
    with pytest.raises(IntegrityError), transaction.atomic():
        Commission.objects.filter(opportunity=deal).update(status="waived")


# The view ---------------------------------------------------------------------------


def _waive(client, commission, **data):
    return client.post(
        reverse("sales:commission-waive", args=[commission.pk]),
        {"reason": REASON, "confirmed": "1", **data},
        HTTP_ACCEPT_LANGUAGE="en",
    )


def _messages(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def test_a_sales_manager_writes_a_clawback_line_off_from_the_list(
    client, line, sales_manager
):
    client.force_login(sales_manager)

    response = _waive(client, line)

    assert response.status_code == 302
    assert response.url == reverse("sales:commission-list")
    line.refresh_from_db()
    assert (line.status, line.waive_reason) == ("waived", REASON)
    assert _messages(response) == ["Clawback written off: it will not be recovered."]
    again = _waive(client, line)
    assert again.status_code == 302
    # The first message was never shown (no GET between): the last is the answer.
    assert _messages(again)[-1] == "This clawback was written off already."


def test_writing_off_unconfirmed_asks_first_and_changes_nothing(
    client, line, sales_manager
):
    client.force_login(sales_manager)

    response = _waive(client, line, confirmed="")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="confirm-page"' in page
    assert f'name="reason" value="{REASON}"' in page
    facts = page.split('data-testid="confirm-facts"')[1].split("</dl>")[0]
    assert f"{-line.amount:,.2f}" in facts
    assert REASON in facts
    line.refresh_from_db()
    assert line.status == "payable"


def test_a_consultant_cannot_write_off_their_clawback_line(
    client, line, consultant, outsider
):
    for user in (consultant, outsider):
        client.force_login(user)
        assert _waive(client, line).status_code == 403
    line.refresh_from_db()
    assert line.status == "payable"


def test_another_teams_clawback_line_is_not_found(
    client, building, far_consultant, sales_manager
):
    far = clawback_line(building, far_consultant, 1, sales_manager)
    client.force_login(sales_manager)

    assert _waive(client, far).status_code == 404

    far.refresh_from_db()
    assert far.status == "payable"


@pytest.mark.parametrize("reason", ["", "   ", "长" * 201])
def test_a_blank_or_too_long_reason_is_said_and_nothing_is_saved(
    client, line, sales_manager, reason
):
    client.force_login(sales_manager)

    response = _waive(client, line, reason=reason)

    # Back to the list, the error next to the line's reason (not a message at the
    # top).
    assert response.status_code == 302
    assert response.url == reverse("sales:commission-list")
    assert not _messages(response)
    page = client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    row = page.split(f'action="{reverse("sales:commission-waive", args=[line.pk])}')[1]
    row = row.split("</form>")[0]
    assert "is-invalid" in row and 'data-testid="waive-error"' in row
    error = row.split('data-testid="waive-error">')[1].split("</div>")[0]
    assert "reason" in error.lower()
    line.refresh_from_db()
    assert (line.status, line.waive_reason) == ("payable", "")
    assert not Interaction.objects.filter(
        event="sales.commission_clawback_waived"
    ).exists()


def test_a_sale_line_is_refused_with_a_message(
    client, building, consultant, own_customer, sales_manager
):
    deal = signed_deal(consultant, own_customer, _unit(building))
    _pay(consultant, deal, deal.agreed_price)
    sale = Commission.objects.get(opportunity=deal)
    client.force_login(sales_manager)

    response = _waive(client, sale)

    assert response.status_code == 302 and len(_messages(response)) == 1
    sale.refresh_from_db()
    assert sale.status == "payable"


# The list ---------------------------------------------------------------------------


def test_the_list_offers_the_write_off_and_names_a_consultant_who_left(
    client, building, line, consultant, other_consultant, sales_manager
):
    kept = clawback_line(building, other_consultant, 1, sales_manager)
    _left(consultant)
    client.force_login(sales_manager)

    response = client.get(reverse("sales:commission-list"), HTTP_ACCEPT_LANGUAGE="en")

    page = response.content.decode()
    rows = page.split('data-testid="commission-row"')[1:]
    left = next(row for row in rows if f"/{line.pk}/waive/" in row)
    stays = next(row for row in rows if f"/{kept.pk}/waive/" in row)
    assert 'data-testid="consultant-left"' in left and "Left the company" in left
    assert 'data-testid="consultant-left"' not in stays
    for row in (left, stays):
        assert 'data-testid="pay-commission"' in row
        assert 'data-testid="waive-commission"' in row
        assert 'name="reason"' in row and 'maxlength="200"' in row
    assert f'id="confirm-waive-{line.pk}"' in page
    assert f'data-confirm-dialog="confirm-waive-{line.pk}"' in page


def test_the_list_shows_a_written_off_line_apart_from_payable(
    client, building, line, other_consultant, sales_manager
):
    kept = clawback_line(building, other_consultant, 1, sales_manager)
    commission_waive(actor=sales_manager, commission=line, reason=REASON)
    client.force_login(sales_manager)

    response = client.get(reverse("sales:commission-list"), HTTP_ACCEPT_LANGUAGE="en")

    totals = {value: amount for value, _label, amount in response.context["totals"]}
    assert totals["waived"] == line.amount
    assert totals["payable"] == kept.amount
    page = response.content.decode()
    waived_row = next(
        row for row in page.split('data-testid="commission-row"')[1:] if REASON in row
    )
    assert "Waived" in waived_row and "waive-commission" not in waived_row
    assert "pay-commission" not in waived_row
    assert '<option value="waived">Waived</option>' in page
    # The paid commission of that deal no longer says it will be taken back.
    paid_rows = [
        row for row in page.split('data-testid="commission-row"')[1:] if ">Paid<" in row
    ]
    by_deal = {row.split('href="')[1].split('"')[0]: row for row in paid_rows}
    assert (
        "the clawback was written off" in by_deal[line.opportunity.get_absolute_url()]
    )
    assert (
        "taken back in the next settlement"
        in by_deal[kept.opportunity.get_absolute_url()]
    )
    only = client.get(reverse("sales:commission-list"), {"status": "waived"})
    assert [c.pk for c in only.context["page"].items] == [line.pk]


def test_a_consultant_sees_their_line_without_the_write_off(client, line, consultant):
    client.force_login(consultant)

    page = client.get(reverse("sales:commission-list")).content.decode()

    assert 'data-testid="clawback"' in page
    assert "waive-commission" not in page and "confirm-waive" not in page


def test_a_refused_write_off_keeps_the_lists_filters_and_page(
    client, line, sales_manager
):
    """The line's form posts with the list's query string: refused or written off,
    the browser goes back to the same filtered list; a refused reason is shown
    again with its error, once."""
    client.force_login(sales_manager)
    listed_url = f"{reverse('sales:commission-list')}?status=payable"
    action = reverse("sales:commission-waive", args=[line.pk])
    assert (
        f'action="{action}?status=payable"' in client.get(listed_url).content.decode()
    )
    too_long = "长" * 201
    refused = client.post(
        f"{action}?status=payable", {"reason": too_long, "confirmed": "1"}
    )
    assert refused.url == listed_url
    shown = client.get(refused.url).content.decode()
    assert 'data-testid="waive-error"' in shown and too_long in shown
    assert 'data-testid="waive-error"' not in client.get(listed_url).content.decode()
    done = client.post(f"{action}?status=payable", {"reason": REASON, "confirmed": "1"})
    assert done.url == listed_url
