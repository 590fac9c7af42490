"""A merge running while someone works on either side: what they write lands on the
record that lives on, never on the one merged away."""

from __future__ import annotations

import pytest

from customers import merge_handlers, services
from customers.models import Customer, Interaction
from customers.services.merge import customer_merge
from tests.factories import CustomerFactory
from tests.helpers import during_a_slow_merge


@pytest.mark.django_db(transaction=True)
def test_a_call_logged_while_a_merge_runs_lands_on_the_survivor(
    consultant, sales_manager
):
    merge_handlers.connect()
    survivor = CustomerFactory(name="李雷", assigned_consultant=consultant)
    absorbed = CustomerFactory(name="李雷", assigned_consultant=consultant)

    def log():
        # The consultant's page still shows the absorbed record.
        services.interaction_log(
            customer=absorbed,
            kind=Interaction.Kind.CALL_OUT,
            summary="约周六看房",
            actor=consultant,
        )

    errors = during_a_slow_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, act=log
    )
    assert not errors
    call = Interaction.objects.get(summary="约周六看房")
    assert call.customer_id == survivor.pk
    survivor.refresh_from_db()
    assert survivor.last_contact_at == call.occurred_at


def test_a_note_logged_on_a_record_merged_meanwhile_goes_to_the_survivor(
    db, consultant, sales_manager
):
    merge_handlers.connect()
    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant)
    stale = Customer.objects.get(pk=absorbed.pk)
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    entry = services.interaction_log(
        customer=stale,
        kind=Interaction.Kind.VISIT,
        summary="来访",
        actor=consultant,
        next_follow_up=None,
    )
    entry.refresh_from_db()
    assert entry.customer_id == survivor.pk


def test_an_edit_saved_on_a_record_merged_meanwhile_is_refused(
    db, consultant, sales_manager
):
    merge_handlers.connect()
    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant, company="")
    stale = Customer.objects.get(pk=absorbed.pk)
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    with pytest.raises(services.CustomerMerged):
        services.customer_update(actor=consultant, customer=stale, company="安居地产")
    absorbed.refresh_from_db()
    assert absorbed.company == ""


def test_the_edit_form_says_the_record_was_merged_and_keeps_what_was_typed(
    client, consultant, sales_manager, monkeypatch
):
    from django.urls import reverse

    from customers.views import customers as views

    merge_handlers.connect()
    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(
        name="韩梅梅", mobile="+8613500135000", assigned_consultant=consultant
    )
    stale = Customer.objects.get(pk=absorbed.pk)
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    # The scope check ran a moment before the merge committed.
    monkeypatch.setattr(views, "_editable_customer", lambda request, pk: stale)
    client.force_login(consultant)
    response = client.post(
        reverse("customers:customer-edit", args=[absorbed.pk]),
        {
            "name": "韩梅梅",
            "kind": "person",
            "mobile": "135 0013 5000",
            "company": "安居地产",
            "source": stale.source,
            "stage": stale.stage,
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.non_field_errors()
    assert survivor.get_absolute_url() in str(form.non_field_errors())
    assert form["company"].value() == "安居地产"
    absorbed.refresh_from_db()
    assert absorbed.company != "安居地产"
