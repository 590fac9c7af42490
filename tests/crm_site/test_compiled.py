"""Lookups by key compiled once (crm_site.compiled.KeyLookup): the customer page's
customer read from SQL compiled once per pair of scopes is the one the ORM reads,
related rows and annotations included; out of scope it is not found."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from crm_site.compiled import STAND_IN, KeyLookup
from crm_site.models import User
from customers import selectors
from customers.models import Customer, Household, Tag
from customers.querysets import search_text
from tests.factories import CustomerFactory


def _state(customer: Customer) -> tuple:
    fields = {k: v for k, v in vars(customer).items() if k != "_state"}
    related = {
        name: (
            None
            if obj is None
            else {k: v for k, v in vars(obj).items() if k != "_state"}
        )
        for name, obj in customer._state.fields_cache.items()
    }
    return fields, related, customer._state.db, customer._state.adding


@pytest.mark.django_db
def test_the_page_customer_is_the_one_the_orm_reads(consultant, sales_manager):
    household = Household.objects.create(name="张家")
    customer = CustomerFactory(
        assigned_consultant=consultant, created_by=consultant, household=household
    )
    customer.tags.add(Tag.objects.create(name="VIP"))
    for user in (consultant, sales_manager):
        user = User.objects.get(pk=user.pk)
        orm = selectors.customer_for_page(user=user).get(pk=customer.pk)
        compiled = selectors.customer_on_page(user=user, pk=customer.pk)
        assert _state(compiled) == _state(orm)
        assert compiled.tag_names == ["VIP"] and compiled.household == household
        # The same again, from the SQL compiled by the first call.
        assert _state(selectors.customer_on_page(user=user, pk=customer.pk)) == _state(
            orm
        )


@pytest.mark.django_db
def test_out_of_scope_or_missing_is_none(consultant, others_customer, own_customer):
    user = User.objects.get(pk=consultant.pk)
    assert selectors.customer_on_page(user=user, pk=own_customer.pk) == own_customer
    assert selectors.customer_on_page(user=user, pk=others_customer.pk) is None
    assert selectors.customer_on_page(user=user, pk=10**12) is None
    # Beyond the key column's range: not found, as the ORM says (not a database error).
    assert selectors.customer_on_page(user=user, pk=2**63) is None
    assert selectors.customer_on_page(user=user, pk=-(2**63) - 1) is None


@pytest.mark.django_db
def test_the_customer_page_of_a_key_out_of_range_is_not_found(client, consultant):
    client.force_login(consultant)
    assert client.get("/customers/9223372036854775808/").status_code == 404


@pytest.mark.django_db
def test_one_query_and_no_compiling_after_the_first(own_customer):
    lookup = KeyLookup(Customer.objects.select_related("assigned_consultant"))
    lookup.get(own_customer.pk)
    with CaptureQueriesContext(connection) as queries:
        found = lookup.get(own_customer.pk)
    assert found == own_customer and found.assigned_consultant.username == "consultant"
    assert len(queries) == 1
    assert str(STAND_IN) not in queries[0]["sql"]


@pytest.mark.django_db
def test_a_query_holding_the_stand_in_elsewhere_is_refused(db):
    lookup = KeyLookup(Customer.objects.filter(Q(pk=STAND_IN) | Q(name="x")))
    with pytest.raises(AssertionError, match="2 times"):
        lookup.get(1)


@pytest.mark.django_db(transaction=True)
def test_threads_read_through_their_own_connections(consultant):
    customers = [CustomerFactory(assigned_consultant=consultant) for _ in range(4)]
    lookup = KeyLookup(Customer.objects.select_related("assigned_consultant"))
    found: dict[int, list] = {}
    errors: list[BaseException] = []

    def read(index: int) -> None:
        try:
            found[index] = [
                lookup.get(customers[(index + n) % 4].pk).pk for n in range(20)
            ]
        except Exception as exc:  # noqa: BLE001 - the main thread asserts on it
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=read, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for index, pks in found.items():
        assert pks == [customers[(index + n) % 4].pk for n in range(20)]


@pytest.mark.django_db
def test_the_list_page_compiled_reads_what_the_orm_reads(
    consultant, other_consultant, far_consultant, sales_manager, marketer, executive
):
    """The customer list's first page read through SQL compiled once per scope
    (crm_site.compiled.SliceRead): the same SQL, parameters and rows as the ORM's
    slice, for the plain list and for searches, whoever reads it."""
    for n, owner in enumerate([consultant, other_consultant, far_consultant, None] * 4):
        CustomerFactory(
            name=["周冬梅", "周冬", "王周冬", "李%周冬_"][n % 4],
            assigned_consultant=owner,
            consent_sms=n % 2 == 0,
            mobile=f"+86138001380{n:02d}",
        )
    users = (consultant, sales_manager, marketer, executive)
    for user in (User.objects.get(pk=u.pk) for u in users):
        for text in (
            "",
            "周冬",
            "周",
            "%周冬_",
            "'; --",
            "\ue000\ue001",
            "zhou",
            "138 0013 8000",
            "1380",
        ):
            counted, reader = selectors.customer_list_page(user=user, text=text)
            if selectors.reads_in_ranks(search_text(text)):
                # Read rank by rank (tests/customers/test_search_ranks.py): the
                # rows the ORM ranks, in its order.
                ranked = Customer.objects.visible_to(user, one=True).identifiable()
                ranked = ranked.search(text, user=user).ranked()
                for low, high in ((0, 26), (0, 3), (2, 5)):
                    rows = reader(low, high)[0]
                    assert [r.pk for r in rows] == [r.pk for r in ranked[low:high]]
                continue
            qs = counted.build()
            for low, high in ((0, 26), (0, 3), (2, 5)):
                rows, sql, params = reader(low, high)
                orm_sql, orm_params = qs[low:high].query.sql_with_params()
                assert orm_sql.startswith(sql) and orm_sql[len(sql) :].startswith(
                    " LIMIT"
                )
                assert tuple(params) == tuple(orm_params), (user, text)
                expected = list(qs[low:high])
                assert [_state(r) for r in rows] == [_state(r) for r in expected]


@pytest.mark.django_db
def test_a_search_ranks_the_exact_name_then_names_starting_with_it(sales_manager):
    for name in ("王周冬", "周冬梅", "周冬", "李周冬"):
        CustomerFactory(name=name, assigned_consultant=sales_manager)
    counted, reader = selectors.customer_list_page(user=sales_manager, text="周冬")
    rows, _sql, _params = reader(0, 26)
    assert [r.name for r in rows][:2] == ["周冬", "周冬梅"]
    assert {r.name for r in rows[2:]} == {"王周冬", "李周冬"}
    assert {r.pk for r in rows} == set(counted.build().values_list("pk", flat=True))


@pytest.mark.django_db
def test_the_list_page_of_someone_who_sees_no_customers_is_empty(outsider):
    counted, reader = selectors.customer_list_page(user=outsider, text="周冬")
    assert list(counted.build()) == [] and reader(0, 26)[0] == []


@pytest.mark.django_db
def test_the_timeline_and_contacts_compiled_read_what_the_orm_reads(consultant):
    """The customer page's timeline (per kind, any page) and further contacts read
    through SQL compiled once: the ORM's rows, for each customer."""
    from datetime import timedelta

    from django.utils import timezone

    from customers.models import ContactPoint, Interaction

    now = timezone.now()
    customers = [CustomerFactory(assigned_consultant=consultant) for _ in range(2)]
    for c_index, customer in enumerate(customers):
        for n in range(7 + c_index):
            Interaction.objects.create(
                customer=customer,
                kind=["visit", "call_in", "wechat"][n % 3],
                summary=f"第{n}次",
                occurred_at=now - timedelta(hours=n % 4),
                created_by=consultant if n % 2 else None,
            )
        for kind, value in (("wechat", f"wx{c_index}"), ("mobile", "13800138000")):
            ContactPoint.objects.create(customer=customer, kind=kind, value=value)
    for customer in customers:
        for kind in ("", "visit", "call_in", "email"):
            qs, reader = selectors.customer_timeline_page(customer=customer, kind=kind)
            for low, high in ((0, 21), (2, 5), (20, 41)):
                rows, _sql, params = reader(low, high)
                assert tuple(params) == qs[low:high].query.sql_with_params()[1]
                # The page's entries are named tuples (selectors.TIMELINE_COLUMNS).
                assert rows == list(qs[low:high])
                assert all(r._fields == selectors.TIMELINE_COLUMNS for r in rows)
        shown = selectors.contact_points_for(customer=customer, user=consultant)
        expected = list(customer.contact_points.order_by("kind", "id"))
        assert [_state(row.point) for row in shown] == [_state(p) for p in expected]
