from __future__ import annotations

from django.contrib.messages import get_messages
from django.urls import reverse

from customers.models import Customer, Interaction

REGISTER = reverse("customers:register")


def _messages(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_registering_a_colleagues_number_does_not_name_their_customer(
    client, consultant, others_customer
):
    client.force_login(consultant)
    response = client.post(
        REGISTER, {"mobile": "13900139000", "kind": "visit", "source": "walk_in"}
    )
    assert response.status_code == 302
    assert Interaction.objects.filter(customer=others_customer).exists()
    assert "赵六" not in _messages(response)


def test_a_twin_registered_at_another_desk_meanwhile_gets_the_visit_not_a_500(
    client, consultant, others_customer, monkeypatch
):
    """Two desks type the same new number at once: the second save finds the
    customer the first one created (the unique index) and logs on it."""
    from customers.views import registration

    # The lookup ran before the other desk's customer was committed.
    monkeypatch.setattr(
        registration.services, "customer_find_by_phone", lambda mobile: None
    )
    client.force_login(consultant)
    response = client.post(
        REGISTER,
        {"mobile": "13900139000", "name": "赵六", "kind": "visit", "source": "walk_in"},
    )
    assert response.status_code == 302
    assert Customer.objects.filter(mobile="+8613900139000").count() == 1
    visit = Interaction.objects.get()
    assert visit.customer == others_customer and visit.created_by == consultant
    assert "赵六" not in _messages(response)


def test_undoing_a_merge_never_names_a_customer_the_manager_cannot_see(
    client, sales_manager, consultant, far_consultant
):
    from customers import merge_handlers
    from customers.models import ContactPoint, DuplicatePair, MergeRecord
    from customers.services.merge import customer_merge
    from tests.factories import CustomerFactory

    merge_handlers.connect()
    survivor = CustomerFactory(
        name="王一", mobile="+8613800138001", assigned_consultant=consultant
    )
    absorbed = CustomerFactory(
        name="王一", mobile="+8613800138002", assigned_consultant=consultant
    )
    DuplicatePair.objects.create(first=survivor, second=absorbed, reasons=["name"])
    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    assert ContactPoint.objects.filter(customer=survivor, value=absorbed.mobile)
    # Another team's consultant registers someone else with the freed number.
    CustomerFactory(
        name="远方客户", mobile="+8613800138002", assigned_consultant=far_consultant
    )
    client.force_login(sales_manager)
    response = client.post(reverse("customers:merge-restore", args=[record.pk]))
    assert response.status_code == 302
    text = _messages(response)
    assert text, "the refusal is shown"
    assert "远方客户" not in text
    assert not MergeRecord.objects.get(pk=record.pk).restored_at
