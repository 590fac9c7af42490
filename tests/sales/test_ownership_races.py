"""The public pool's claims: the daily cap holds under claims at once, and My day
offers to claim only what a claim allows."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from sales.models import CoBuyer, Opportunity, OwnershipEvent, Project
from sales.services import ownership
from tests.factories import CustomerFactory

MY_DAY = reverse("sales:my-day")


@pytest.fixture
def project(team):
    project = Project.objects.create(name="安居·御景湾")
    project.teams.add(team)
    return project


@pytest.mark.django_db(transaction=True)
def test_two_claims_of_different_customers_at_once_stop_at_the_daily_cap(
    team, consultant, monkeypatch
):
    project = Project.objects.create(name="安居·御景湾")
    project.teams.add(team)
    ownership.rule_update(actor=consultant, project=project, daily_claim_cap=1)
    customers = [CustomerFactory(assigned_consultant=None) for _ in range(2)]
    # Each claim counts the day's claims, then waits for the other to count too (the
    # interleaving of two tabs): without one claim per claimant at a time, both
    # would count none and both pass the cap.
    barrier = threading.Barrier(2)
    counted = ownership.claims_today

    def claims_today(user, project):
        n = counted(user, project)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=2)
        return n

    monkeypatch.setattr(ownership, "claims_today", claims_today)
    outcomes: list[str] = []

    def claim(customer):
        try:
            ownership.pool_claim(actor=consultant, customer=customer, project=project)
            outcomes.append("claimed")
        except ownership.ClaimRefused:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(c,)) for c in customers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["claimed", "refused"]
    assert (
        OwnershipEvent.objects.filter(
            consultant=consultant, kind=OwnershipEvent.Kind.CLAIMED, project=project
        ).count()
        == 1
    )


def _lapsed(customer, project, *, hours_ago: int = 1) -> OwnershipEvent:
    return OwnershipEvent.objects.create(
        customer=customer,
        project=project,
        kind=OwnershipEvent.Kind.LAPSED,
        at=timezone.now() - timedelta(hours=hours_ago),
    )


def test_my_day_offers_from_the_pool_only_customers_a_claim_allows(
    client, consultant, other_consultant, project
):
    claimable = CustomerFactory(name="可认领", assigned_consultant=None)
    survivor = CustomerFactory(name="留存", assigned_consultant=None)
    merged = CustomerFactory(
        name="被并入", assigned_consultant=None, merged_into=survivor
    )
    anonymised = CustomerFactory(
        name="已匿名", assigned_consultant=None, anonymised_at=timezone.now()
    )
    owner = CustomerFactory(name="业主", assigned_consultant=None, stage="owner")
    buyer = CustomerFactory(name="已认购", assigned_consultant=None)
    Opportunity.objects.create(
        customer=buyer,
        project=project,
        consultant=other_consultant,
        stage=Opportunity.Stage.SUBSCRIBED,
    )
    co_buyer = CustomerFactory(name="共同购房人", assigned_consultant=None)
    CoBuyer.objects.create(
        opportunity=Opportunity.objects.create(
            customer=CustomerFactory(),
            project=project,
            consultant=other_consultant,
            stage=Opportunity.Stage.CONTRACTED,
        ),
        customer=co_buyer,
    )
    for customer in (claimable, merged, anonymised, owner, buyer, co_buyer):
        _lapsed(customer, project)
    client.force_login(consultant)
    offered = [e.customer for e in client.get(MY_DAY).context["pool_new"]]
    assert offered == [claimable]
    # The same customers the pool page lists and pool_claim accepts.
    assert set(ownership.pool_claimable().filter(pk__in=[c.pk for c in offered])) == {
        claimable
    }


def test_a_co_buyer_of_a_live_deal_is_not_claimable_from_the_pool(
    consultant, other_consultant, project
):
    co_buyer = CustomerFactory(name="共同购房人", assigned_consultant=None)
    deal = Opportunity.objects.create(
        customer=CustomerFactory(),
        project=project,
        consultant=other_consultant,
        stage=Opportunity.Stage.SUBSCRIBED,
    )
    CoBuyer.objects.create(opportunity=deal, customer=co_buyer)
    assert not ownership.pool_claimable().filter(pk=co_buyer.pk).exists()
    with pytest.raises(ownership.ClaimRefused):
        ownership.pool_claim(actor=consultant, customer=co_buyer, project=project)
    co_buyer.refresh_from_db()
    assert co_buyer.assigned_consultant is None
    # Once that deal is lost, they are a free lead like any other.
    Opportunity.objects.filter(pk=deal.pk).update(stage=Opportunity.Stage.LOST)
    ownership.pool_claim(actor=consultant, customer=co_buyer, project=project)


def test_my_day_queries_do_not_grow_with_the_pool_s_new_customers(
    client, consultant, project, django_assert_num_queries
):
    from django.core.cache import cache

    def grow(n: int) -> None:
        survivor = CustomerFactory(assigned_consultant=None)
        for _ in range(n):
            _lapsed(CustomerFactory(assigned_consultant=None), project)
            _lapsed(
                CustomerFactory(assigned_consultant=None, merged_into=survivor),
                project,
            )

    client.force_login(consultant)
    grow(1)
    client.get(MY_DAY)
    cache.clear()
    with django_assert_num_queries(13) as first:
        response = client.get(MY_DAY)
    assert len(response.context["pool_new"]) == 1
    grow(3)
    cache.clear()
    with django_assert_num_queries(len(first.captured_queries)):
        response = client.get(MY_DAY)
    assert len(response.context["pool_new"]) == 4
