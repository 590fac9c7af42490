"""A queryset reading its rows from other queries (crm_site.derived.read_from): its
filters, joins, annotations, ordering, counting and use as a subquery apply to the
sources' rows, as they would to the same rows in the table."""

from __future__ import annotations

import pytest
from django.db.models import Count, F, Q

from crm_site.derived import read_from
from customers.models import Customer, Interaction
from tests.factories import CustomerFactory


@pytest.fixture
def people(consultant):
    names = ["王一", "王二", "李三", "李四", "赵五"]
    return [
        CustomerFactory(name=name, assigned_consultant=consultant if i % 2 else None)
        for i, name in enumerate(names)
    ]


@pytest.mark.django_db
def test_the_rows_come_from_the_sources_and_the_queryset_applies_to_them(
    people, consultant
):
    wang = Customer.objects.filter(name__startswith="王")
    li = Customer.objects.filter(name__startswith="李").order_by("-pk")[:1]
    derived = read_from(
        Customer.objects.filter(assigned_consultant__isnull=False), wang, li
    )
    rows = list(derived.select_related("assigned_consultant").order_by("pk"))
    # 王二 is owned, 王一 is not; of 李 only the newest (李四, owned) is a source row.
    assert [c.name for c in rows] == ["王二", "李四"]
    assert rows[0].assigned_consultant == consultant
    assert derived.count() == 2
    assert derived.order_by("pk")[1:].get().name == "李四"
    ranked = read_from(Customer.objects.all(), wang).annotate(first=F("pk") * 0)
    assert {(c.name, c.first) for c in ranked} == {("王一", 0), ("王二", 0)}


@pytest.mark.django_db
def test_a_derived_queryset_works_as_a_subquery(people):
    """Django relabels a subquery's tables (U0, V0 …): the derived rows take the
    alias the outer query refers to."""
    wang = Customer.objects.filter(name__startswith="王")
    derived = read_from(Customer.objects.filter(Q(pk__gt=0)), wang)
    Interaction.objects.create(customer=people[0], kind="call_in", summary="来电")
    Interaction.objects.create(customer=people[2], kind="call_in", summary="来电")
    found = Interaction.objects.filter(customer__in=derived)
    assert [i.customer_id for i in found] == [people[0].pk]
    # Grouped by the rows: over their keys (PostgreSQL knows no key of derived rows).
    counted = (
        Customer.objects.filter(pk__in=derived.values("pk"))
        .annotate(n=Count("interactions"))
        .order_by("pk")
    )
    assert [(c.name, c.n) for c in counted] == [("王一", 1), ("王二", 0)]
    assert Customer.objects.filter(pk__in=derived.values("pk")).count() == 2


@pytest.mark.django_db
def test_a_source_must_be_plain_rows_of_the_model(people):
    base = Customer.objects.all()
    with pytest.raises(ValueError):
        read_from(base, Customer.objects.values_list("pk", flat=True))
    with pytest.raises(ValueError):
        read_from(base, Customer.objects.annotate(n=F("pk")))
    with pytest.raises(ValueError):
        read_from(base, Interaction.objects.all())
    with pytest.raises(ValueError):
        read_from(base, base.union(base))


@pytest.mark.django_db
def test_derived_rows_are_changed_through_their_keys_only(people):
    """UPDATE and DELETE name the table itself: the sources' choice of rows would be
    lost (every row of the queryset's own filters changed), so they are refused."""
    from crm_site.derived import DerivedRowsAreReadOnly

    wang = Customer.objects.filter(name__startswith="王")
    derived = read_from(Customer.objects.all(), wang).filter(pk__gt=0)
    with pytest.raises(DerivedRowsAreReadOnly):
        derived.update(notes="x")
    with pytest.raises(DerivedRowsAreReadOnly):
        derived.order_by("pk").delete()
    assert Customer.objects.filter(pk__in=derived.values("pk")).update(notes="x") == 2
    assert sorted(
        Customer.objects.filter(notes="x").values_list("name", flat=True)
    ) == [
        "王一",
        "王二",
    ]
