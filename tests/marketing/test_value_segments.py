"""Customer value and tier as segment filters (marketing.selectors, SegmentForm):
the live count, the saved criteria, and the members query on the value indexes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from customers.models import CustomerValue, ValueTier
from customers.value import tier_for
from marketing.models import Segment
from marketing.selectors import segment_count, segment_customers
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tiers(db):
    # The migration's defaults, again after a transactional test emptied the tables.
    from customers.value import default_tiers_create

    default_tiers_create()


def put(customer, score: str) -> None:
    score_d = Decimal(score)
    CustomerValue.objects.create(
        customer=customer,
        contracted=max(score_d, Decimal(0)),
        referred=Decimal(0),
        cost=max(-score_d, Decimal(0)),
        score=score_d,
        tier=tier_for(score_d, ValueTier.objects.all()),
        channel=customer.source,
    )


@pytest.fixture
def valued(db):
    people = {}
    for name, score in [
        ("钻", "12000000"),
        ("金", "5000000"),
        ("银", "2500000"),
        ("普", "0"),
        ("亏", "-3000"),
    ]:
        people[name] = CustomerFactory(name=name)
        put(people[name], score)
    # No value row yet (never refreshed): matches no value filter.
    CustomerFactory(name="新")
    # Refused marketing: marketing never sees them, whatever their value.
    hidden = CustomerFactory(name="拒", consent_sms=False)
    put(hidden, "90000000")
    return people


def names(user, **criteria) -> set[str]:
    return set(
        segment_customers(user=user, criteria=criteria).values_list("name", flat=True)
    )


def tier(name: str) -> int:
    return ValueTier.objects.get(name=name).pk


def test_value_at_least_includes_the_boundary(marketer, valued):
    assert names(marketer, value_min="5000000") == {"钻", "金"}
    assert names(marketer, value_min="4999999.99") == {"钻", "金"}
    assert names(marketer, value_min="0") == {"钻", "金", "银", "普"}
    assert names(marketer, value_min="-5000") == {"钻", "金", "银", "普", "亏"}


def test_value_tier_picks_the_tiers_customers(marketer, valued):
    assert names(marketer, value_tier=tier("钻石")) == {"钻"}
    assert names(marketer, value_tier=tier("黄金")) == {"金"}
    # Cost above value is in the lowest tier.
    assert names(marketer, value_tier=tier("普通")) == {"普", "亏"}
    assert segment_count(user=marketer, criteria={"value_tier": tier("白银")}) == 1


def test_value_filters_combine_with_the_others(marketer, valued):
    valued["金"].stage = "owner"
    valued["金"].save(update_fields=["stage"])
    assert names(marketer, stage="owner", value_min="1000000") == {"金"}
    assert names(marketer, value_tier=tier("黄金"), value_min="6000000") == set()


def test_the_builders_live_count_uses_the_value_filters(client, marketer, valued):
    client.force_login(marketer)
    response = client.get(
        reverse("marketing:segment-count"), {"value_tier": tier("普通")}
    )
    assert 'data-testid="segment-count-value">2<' in response.content.decode()
    response = client.get(reverse("marketing:segment-count"), {"value_min": "2500000"})
    assert 'data-testid="segment-count-value">3<' in response.content.decode()


def test_a_saved_segment_keeps_its_value_filters(client, marketer, valued):
    client.force_login(marketer)
    response = client.post(
        reverse("marketing:segment-create"),
        {"name": "高价值", "value_min": "2000000", "value_tier": tier("白银")},
    )
    assert response.status_code == 302
    segment = Segment.objects.get(name="高价值")
    assert segment.criteria == {"value_min": "2000000", "value_tier": tier("白银")}
    assert names(marketer, **segment.criteria) == {"银"}
    page = client.get(reverse("marketing:segment-edit", args=[segment.pk]))
    assert 'data-testid="segment-count-value">1<' in page.content.decode()


def test_a_bad_value_is_refused_next_to_the_field_and_nothing_saved(
    client, marketer, valued
):
    client.force_login(marketer)
    response = client.post(
        reverse("marketing:segment-create"),
        {"name": "坏", "value_min": "很多", "value_tier": "999999"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["value_min"] and form.errors["value_tier"]
    assert not Segment.objects.filter(name="坏").exists()


def test_the_members_query_reads_the_value_facts_by_an_index(marketer, valued):
    qs = segment_customers(
        user=marketer, criteria={"value_tier": tier("黄金"), "value_min": "1"}
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = qs.explain()
    assert "customers_customervalue" in plan
    assert "Seq Scan on customers_customervalue" not in plan
