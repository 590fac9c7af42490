"""The customer scope built once per process and key (customers.querysets._scope_of):
the key holds everything the scope depends on, so a change of role, team or team
membership is a new scope at once, and what callers get is always a fresh clone."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from crm_site.models import User
from crm_site.roles import Role
from customers.models import Customer
from customers.querysets import ScopeKey, _scope_of
from tests.factories import CustomerFactory, UserFactory


def _visible(user: User, *, one: bool = False) -> set[int]:
    # A fresh user object each time, as each request loads one.
    user = User.objects.get(pk=user.pk)
    return set(Customer.objects.visible_to(user, one=one).values_list("pk", flat=True))


@pytest.mark.django_db
def test_the_scope_comes_from_the_process_cache_as_a_fresh_clone(
    sales_manager, own_customer
):
    first = Customer.objects.visible_to(sales_manager)
    second = Customer.objects.visible_to(sales_manager)
    assert first is not second and first.query is not second.query
    assert str(first.query) == str(second.query)
    key = ScopeKey.of(sales_manager, for_change=False, one=False)
    assert list(first) == [own_customer]
    # Evaluating a clone leaves the cached queryset unevaluated.
    assert _scope_of(Customer, key)._result_cache is None
    # Filtering a clone leaves the next caller's scope as it was.
    assert list(first.filter(name="nobody")) == []
    assert list(Customer.objects.visible_to(sales_manager)) == [own_customer]


@pytest.mark.django_db
def test_a_scope_applied_after_filters_keeps_them(sales_manager, own_customer):
    other = CustomerFactory(assigned_consultant=sales_manager)
    narrowed = Customer.objects.filter(pk=other.pk).visible_to(sales_manager)
    assert list(narrowed) == [other]
    assert set(Customer.objects.visible_to(sales_manager)) == {own_customer, other}


@pytest.mark.django_db
@pytest.mark.parametrize("one", [False, True])
def test_a_new_role_is_a_new_scope(consultant, others_customer, own_customer, one):
    assert _visible(consultant, one=one) == {own_customer.pk}
    consultant.groups.set([Group.objects.get(name=Role.SALES_MANAGER.value)])
    assert _visible(consultant, one=one) == {own_customer.pk, others_customer.pk}
    consultant.groups.clear()
    assert _visible(consultant, one=one) == set()


@pytest.mark.django_db
@pytest.mark.parametrize("one", [False, True])
def test_joining_or_leaving_the_team_changes_the_scope_at_once(
    sales_manager, other_team, one
):
    newcomer = UserFactory(team=other_team, role=Role.CONSULTANT)
    theirs = CustomerFactory(assigned_consultant=newcomer)
    assert theirs.pk not in _visible(sales_manager, one=one)
    newcomer.team = sales_manager.team
    newcomer.save()
    assert theirs.pk in _visible(sales_manager, one=one)
    newcomer.team = other_team
    newcomer.save()
    assert theirs.pk not in _visible(sales_manager, one=one)


@pytest.mark.django_db
def test_two_users_with_the_same_role_and_team_share_nothing_personal(
    consultant, other_consultant, own_customer, others_customer
):
    """The key holds the user: one consultant's scope is never another's."""
    assert _visible(consultant) == {own_customer.pk}
    assert _visible(other_consultant) == {others_customer.pk}
    assert ScopeKey.of(consultant, for_change=False, one=False) != ScopeKey.of(
        other_consultant, for_change=False, one=False
    )


@pytest.mark.django_db
def test_the_change_scope_is_kept_apart_from_the_view_scope(consultant, pool_customer):
    assert pool_customer in Customer.objects.visible_to(consultant)
    assert pool_customer not in Customer.objects.editable_by(consultant)
    assert pool_customer in Customer.objects.visible_to(consultant, one=True)
    assert pool_customer not in Customer.objects.editable_by(consultant, one=True)


@pytest.mark.django_db
def test_the_customer_page_query_follows_both_scopes(
    consultant, own_customer, pool_customer, others_customer, executive
):
    from customers.selectors import customer_for_page

    def flags(user):
        user = User.objects.get(pk=user.pk)
        return dict(customer_for_page(user=user).values_list("pk", "can_edit"))

    assert flags(consultant) == {own_customer.pk: True, pool_customer.pk: False}
    # Seeing everyone without the right to change anyone: can_edit is never true.
    assert set(flags(executive).values()) <= {False}
    consultant.groups.set([Group.objects.get(name=Role.SALES_MANAGER.value)])
    assert flags(consultant) == {
        own_customer.pk: True,
        pool_customer.pk: False,
        others_customer.pk: True,
    }


@pytest.mark.django_db(transaction=True)
def test_threads_compiling_clones_of_one_cached_scope_get_their_own_sql(
    consultant, other_consultant, sales_manager, own_customer, others_customer
):
    """A page-server worker's threads share the cached querysets: each compiles its own
    clone, and what one thread adds never shows in another's SQL."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from customers.selectors import customer_for_page

    users = [consultant, other_consultant, sales_manager]

    def sql_of(user, pk):
        return str(customer_for_page(user=user).filter(pk=pk).query)

    expected = {
        (user.pk, pk): sql_of(user, pk)
        for user in users
        for pk in (own_customer.pk, others_customer.pk)
    }

    def work(n):
        try:
            seen = []
            for i in range(200):
                user = users[(n + i) % 3]
                pk = (own_customer.pk, others_customer.pk)[i % 2]
                seen.append(sql_of(user, pk) == expected[(user.pk, pk)])
            return all(seen)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(work, range(8)))
