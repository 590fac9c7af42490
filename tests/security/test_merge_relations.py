"""A merge loses nothing: every relation to Customer in the model registry is declared
moved, merged or kept by its own app, and a merge then its undo leaves every related
table as it was (plus honest history entries)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.db import models
from django.test.utils import isolate_apps
from django.utils import timezone

from customers.models import ConsentRecord, ContactPoint, Customer, Interaction, Tag
from customers.services import interaction_log
from customers.services.merge import (
    customer_merge,
    customer_merge_restore,
    customer_snapshot,
)
from customers.signals import (
    MergeKind,
    _legacy,
    customer_relations,
    follow_merges,
    kept,
    merge_declarations,
    merged,
    moved,
)
from marketing.models import CampaignMember
from sales.models import FollowUpEscalation, Opportunity, Project, Registration
from sales.services import ownership
from service import services as service_services
from tests.factories import CustomerFactory
from tests.marketing.conftest import make_campaign

# Rows a merge or its undo may add: history that says what happened, never rewritten.
HISTORY = {
    "sales.ownershipevent": lambda row: row["kind"].startswith("merge_"),
    "customers.interaction": lambda row: row["kind"] == Interaction.Kind.SYSTEM,
    "customers.mergerecord": lambda row: True,
}


def test_every_relation_to_customer_is_declared_moved_merged_or_kept():
    declared = merge_declarations()
    undeclared = [r for r in customer_relations() if r not in declared]
    assert not undeclared, (
        "These relations to Customer say nothing about a merge; declare each as "
        "moved, merged (with its rule) or kept (with the reason) in its app's "
        f"merge_handlers.py through customers.signals.follow_merges: {undeclared}"
    )


def test_no_declaration_names_a_relation_that_is_gone():
    stale = sorted(set(merge_declarations()) - set(customer_relations()))
    assert not stale, f"Declared, but not a relation to Customer: {stale}"


def test_each_relation_is_declared_by_its_own_app_and_says_why():
    for relation, follow in merge_declarations().items():
        assert follow.app == relation.split(".")[0], relation
        assert follow.kind in set(MergeKind), relation
        if follow.kind != MergeKind.MOVED:
            assert len(follow.reason) > 20, f"{relation}: say why ({follow.kind})"


@isolate_apps("customers")
def test_a_new_relation_to_customer_is_found_in_the_model_registry():
    class Voucher(models.Model):
        holder = models.ForeignKey(Customer, on_delete=models.PROTECT)
        friends = models.ManyToManyField(Customer, related_name="+")

        class Meta:
            app_label = "customers"

        def __str__(self) -> str:
            return str(self.pk)

    found = customer_relations(registry=Voucher._meta.apps)
    assert {"customers.voucher.holder", "customers.voucher.friends"} <= set(found)
    assert "customers.voucher.holder" not in merge_declarations()


def test_follow_merges_refuses_a_declaration_that_hides_something():
    with pytest.raises(ValueError, match="not its own"):
        follow_merges("service", [moved("sales.registration.customer")])
    with pytest.raises(ValueError, match="say why"):
        follow_merges("sales", [kept("sales.registration.customer", reason="")])
    with pytest.raises(ValueError, match="not a relation to Customer"):
        follow_merges("sales", [moved("sales.registration.consultant")])
    with pytest.raises(ValueError):
        merged("sales.registration.customer", rule="x", merge=lambda **kw: ({}, {}))


def test_the_first_form_of_a_declaration_still_declares_a_moved_relation():
    def rows(absorbed, survivor):
        return Opportunity.objects.filter(customer=absorbed)

    by_model = _legacy(("sales.opportunity", rows, "customer"))
    by_field = _legacy(("marketing.referral.referrer", rows, "referrer"))
    assert (by_model.relation, by_model.key, by_model.kind) == (
        "sales.opportunity.customer",
        "sales.opportunity",
        MergeKind.MOVED,
    )
    assert (by_field.relation, by_field.key) == (
        "marketing.referral.referrer",
        "marketing.referral.referrer",
    )


# Merge, then undo: every related table as it was ----------------------------------


def table_rows() -> dict[str, dict[int, dict]]:
    """Every row of every table with a relation to Customer, by table and pk."""
    tables: dict[str, dict[int, dict]] = {}
    for relation in customer_relations():
        label, name = relation.rsplit(".", 1)
        model = apps.get_model(label)
        if model is Customer:
            field = model._meta.get_field(name)
            if not field.many_to_many:
                continue  # the customers themselves: compared by their snapshot
            model = field.remote_field.through
        key = model._meta.label_lower
        if key not in tables:
            tables[key] = {row["id"]: row for row in model._default_manager.values()}
    return tables


def added_rows(before, after) -> dict[str, list[dict]]:
    return {
        table: [row for pk, row in rows.items() if pk not in before[table]]
        for table, rows in after.items()
    }


@pytest.fixture
def rich_pair(consultant, other_consultant, far_consultant, marketer, service_agent):
    """Two records of one person, each with rows in every app; at one project the
    survivor's protection is earlier, at another the absorbed's."""
    survivor = CustomerFactory(assigned_consultant=consultant, stage="buyer")
    absorbed = CustomerFactory(assigned_consultant=other_consultant, stage="buyer")
    now = timezone.now()
    first, second, third = (
        Project.objects.create(name=name) for name in ("一期", "二期", "三期")
    )

    def register(customer, user, project, days_ago):
        return ownership.registration_create(
            actor=user,
            customer=customer,
            project=project,
            consultant=user,
            basis=Registration.Basis.VISIT,
            now=now - timedelta(days=days_ago),
        )

    register(survivor, consultant, first, 5)
    register(absorbed, other_consultant, first, 2)
    register(absorbed, far_consultant, second, 4)
    register(survivor, consultant, second, 1)
    register(absorbed, other_consultant, third, 1)
    lapsed = register(
        absorbed, other_consultant, Project.objects.create(name="四期"), 3
    )
    Registration.objects.filter(pk=lapsed.pk).update(status="lapsed", ended_at=now)
    for customer, user in ((survivor, consultant), (absorbed, other_consultant)):
        interaction_log(customer=customer, kind="note", summary="备注", actor=user)
        ContactPoint.objects.create(customer=customer, kind="email", value="a@x.cn")
        ConsentRecord.objects.create(
            customer=customer, purpose="sms", granted=True, method="form"
        )
        FollowUpEscalation.objects.create(
            customer=customer, consultant=user, due_date=timezone.localdate()
        )
        # One open deal per person and project (a merge refuses two): the absorbed's
        # deal at the same project is closed.
        Opportunity.objects.create(
            customer=customer,
            project=first,
            consultant=user,
            stage="lost" if customer == absorbed else "new",
        )
        service_services.request_create(
            actor=service_agent,
            customer=customer,
            kind="repair",
            category="plumbing",
            severity="normal",
            channel="phone",
            description="漏水",
        )
    FollowUpEscalation.objects.create(
        customer=absorbed,
        consultant=other_consultant,
        due_date=timezone.localdate() - timedelta(days=3),
    )
    campaign = make_campaign(marketer, first)
    CampaignMember.objects.create(campaign=campaign, customer=absorbed)
    survivor.tags.add(Tag.objects.create(name="VIP"))
    absorbed.tags.add(Tag.objects.create(name="业主"))
    survivor.refresh_from_db()
    absorbed.refresh_from_db()
    return survivor, absorbed


def test_merge_then_undo_leaves_every_related_table_as_it_was(rich_pair, sales_manager):
    survivor, absorbed = rich_pair
    before = table_rows()
    customers_before = customer_snapshot(survivor), customer_snapshot(absorbed)

    record = customer_merge(
        actor=sales_manager,
        survivor=survivor,
        absorbed=absorbed,
        choices={"assigned_consultant": "absorbed", "name": "absorbed"},
    )
    merged_rows = table_rows()
    # The merge really moved and ended things (so the undo has work to do).
    assert merged_rows != before
    assert Registration.objects.filter(status="ended", ended_at=record.merged_at)
    customer_merge_restore(actor=sales_manager, record=record)
    after = table_rows()

    survivor.refresh_from_db()
    absorbed.refresh_from_db()
    assert (customer_snapshot(survivor), customer_snapshot(absorbed)) == (
        customers_before
    )
    for table, rows in before.items():
        changed = {
            pk: (row, after[table].get(pk))
            for pk, row in rows.items()
            if after[table].get(pk) != row
        }
        assert not changed, f"{table}: rows not as they were: {changed}"
    for table, rows in added_rows(before, after).items():
        unexplained = [row for row in rows if not HISTORY.get(table, bool)(row)]
        if table not in HISTORY:
            unexplained = rows
        assert not unexplained, f"{table}: rows left by the merge: {unexplained}"
    undone = [
        row
        for row in added_rows(before, after)["sales.ownershipevent"]
        if row["kind"] == "merge_undone"
    ]
    assert undone, "the ownership history says the merge was undone"
