"""Searching by any run of three or more digits of a number (issue 12, item 3)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from customers.models import ContactPoint, Customer
from customers.querysets import digits_too_few, search_ids
from tests.factories import CustomerFactory

LIST = reverse("customers:customer-list")


@pytest.fixture
def walk_in(consultant):
    # 186 2222 3333: the 4-digit run "2222" sits in the hidden middle of 186****3333.
    return CustomerFactory(
        name="周芷若", mobile="+8618622223333", assigned_consultant=consultant
    )


@pytest.fixture
def noise(db):
    return [
        CustomerFactory(name="路人甲", mobile="+8613512345678"),
        CustomerFactory(name="路人乙", mobile="+8615987654321"),
    ]


@pytest.mark.parametrize(
    "run",
    [
        "186",  # the start
        "1862",
        "2222",  # four digits from the middle
        "6222",
        "22223",
        "3333",  # the end
        "333",  # three digits
        "186 2222",
        "2222-3333",
    ],
)
def test_a_run_of_three_or_more_digits_finds_the_number(walk_in, noise, run):
    assert list(Customer.objects.search(run, user=None)) == [walk_in]


def test_a_middle_run_with_zeros_is_found(consultant, noise):
    own = CustomerFactory(mobile="+8613800138000", assigned_consultant=consultant)
    assert set(Customer.objects.search("0013", user=None)) == {own}
    assert set(Customer.objects.search("8001", user=None)) == {own}


def test_the_country_code_is_not_part_of_the_digits(walk_in, noise):
    """+86 is how the number is stored, not what anyone types: '861' must not find
    every mainland number."""
    assert search_ids("861", user=None) == []
    assert search_ids("8618", user=None) == []


def test_one_or_two_digits_search_nothing_and_say_why(client, sales_manager, walk_in):
    assert search_ids("22", user=None) == []
    assert search_ids("3", user=None) == []
    assert digits_too_few("22") and digits_too_few(" 3 ")
    assert (
        not digits_too_few("222")
        and not digits_too_few("")
        and not digits_too_few("张")
    )
    client.force_login(sales_manager)
    response = client.get(LIST, {"q": "22"})
    assert response.context["page"].items == []
    assert 'data-testid="digits-too-few"' in response.content.decode()
    assert (
        'data-testid="digits-too-few"'
        not in client.get(LIST, {"q": "2222"}).content.decode()
    )


def test_a_run_finds_a_further_number_of_the_customer(walk_in, noise):
    ContactPoint.objects.create(customer=walk_in, kind="mobile", value="+8613344445555")
    assert list(Customer.objects.search("3444", user=None)) == [walk_in]
    # An e-mail or WeChat ID with digits is not a number.
    ContactPoint.objects.create(customer=noise[0], kind="wechat", value="wx7770777")
    assert search_ids("777", user=None) == []


def test_a_number_seen_in_full_is_found_by_any_run(
    client, sales_manager, consultant, walk_in
):
    for user in (sales_manager, consultant):  # the full-number right; the owner
        client.force_login(user)
        assert client.get(LIST, {"q": "2222"}).context["page"].items == [walk_in]


def test_a_masked_number_is_found_only_by_what_the_mask_shows(
    client, marketer, other_consultant, walk_in
):
    """The marketer and another consultant see 186****3333: its hidden middle digits
    cannot be spelled out by searching runs of them."""
    Customer.objects.filter(pk=walk_in.pk).update(consent_sms=True)
    walk_in.refresh_from_db()
    client.force_login(marketer)
    assert client.get(LIST, {"q": "周芷若"}).context["page"].items == [walk_in]
    for hidden in ("2222", "6222", "1862", "22223", "222"):
        assert client.get(LIST, {"q": hidden}).context["page"].items == [], hidden
    for shown in ("186", "3333", "333", "186 2222 3333"):
        assert client.get(LIST, {"q": shown}).context["page"].items == [walk_in], shown
    assert search_ids("2222", user=marketer) == []
    assert search_ids("2222", user=other_consultant) == []
    assert search_ids("2222", user=None) == [walk_in.pk]


def test_a_masked_further_number_is_found_only_by_what_the_mask_shows(
    marketer, consultant, walk_in
):
    ContactPoint.objects.create(customer=walk_in, kind="mobile", value="+8613344445555")
    assert search_ids("3444", user=marketer) == []
    assert search_ids("5555", user=marketer) == [walk_in.pk]
    assert search_ids("3444", user=consultant) == [walk_in.pk]


def test_the_pool_search_keeps_pool_numbers_masked(client, consultant, pool_customer):
    """137 0013 7000 in the pool: the consultant sees 137****7000."""
    client.force_login(consultant)
    pool = reverse("sales:pool")
    assert client.get(pool, {"q": "0013"}).context["page"].items == []
    assert client.get(pool, {"q": "7000"}).context["page"].items == [pool_customer]


@pytest.mark.parametrize(
    "typed", ["１８６－２２２２－３３３３", "＋８６ １８６２２２２３３３３", "２２２２"]
)
def test_a_number_typed_in_full_width_is_searched_as_its_digits(
    client, consultant, walk_in, noise, typed
):
    client.force_login(consultant)
    assert walk_in.name in client.get(LIST, {"q": typed}).content.decode()
