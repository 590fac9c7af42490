"""Review 5: the outside doors of marketing — channel partners' brokers (not staff)
on the partner portal, and owners recommending friends and using the member club in
the owner portal — walked as a careful attacker would."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.urls import reverse

from crm_site.models import Notification
from customers.models import ContactPoint, Customer
from marketing.models import Commission, PartnerRegistration, Recommendation
from marketing.services import partners as partner_services
from marketing.services.partners import (
    PartnerRegistrationRefused,
    partner_registration_create,
)
from marketing.services.referrals import RECOMMENDATIONS_PER_DAY
from sales.models import OwnershipEvent
from sales.services import opportunity_contract
from sales.services.ownership import registration_reassign
from tests.factories import CustomerFactory

PORTAL = reverse("marketing:portal")
REGISTER = reverse("marketing:portal-register")
PORTAL_COMMISSIONS = reverse("marketing:portal-commissions")
COMMISSIONS = reverse("marketing:commission-list")
RECOMMEND = reverse("marketing_portal:recommend")


def register(broker, partner, project, mobile="+8613911112222", name="冯一"):
    return partner_registration_create(
        broker=broker, partner=partner, project=project, name=name, mobile=mobile
    )


# Registration floods -----------------------------------------------------------------


def test_a_broker_cannot_register_numbers_without_end_in_a_day(
    broker, partner, project
):
    """A broker pasting a list of numbers would protect them all (blocking the
    consultants for the call window) and learn which are protected already: the
    registrations a broker may try in a day are capped, refusals included."""
    limit = getattr(partner_services, "REGISTRATIONS_PER_DAY", 30)
    for n in range(limit):
        register(broker, partner, project, mobile=f"+86139000{n:05d}")
    with pytest.raises(PartnerRegistrationRefused) as refused:
        register(broker, partner, project, mobile="+8613999999999")
    assert isinstance(refused.value, partner_services.PartnerRegistrationLimit)
    assert PartnerRegistration.objects.count() == limit
    assert not Customer.objects.filter(mobile="+8613999999999").exists()


def test_refusals_count_against_the_brokers_daily_registrations(
    broker, partner, other_broker, other_partner, project
):
    """Probing numbers someone protects (each answer says whether the number is
    taken) counts like a registration."""
    limit = getattr(partner_services, "REGISTRATIONS_PER_DAY", 30)
    taken = [f"+86137000{n:05d}" for n in range(limit)]
    for mobile in taken:
        register(other_broker, other_partner, project, mobile=mobile)
    for mobile in taken:
        with pytest.raises(PartnerRegistrationRefused):
            register(broker, partner, project, mobile=mobile)
    refusals = OwnershipEvent.objects.filter(consultant_id=broker.pk, kind="refused")
    assert refusals.count() == limit
    with pytest.raises(PartnerRegistrationRefused) as refused:
        register(broker, partner, project, mobile="+8613999999999")
    assert isinstance(refused.value, partner_services.PartnerRegistrationLimit)
    # The cap is answered before the number is looked up: no new probe on record.
    assert refusals.count() == limit
    assert not Customer.objects.filter(mobile="+8613999999999").exists()


def test_the_portal_shows_the_daily_cap_as_a_form_error(
    client, broker, partner, project, monkeypatch
):
    monkeypatch.setattr(partner_services, "REGISTRATIONS_PER_DAY", 1, raising=False)
    client.force_login(broker)
    first = client.post(
        REGISTER, {"name": "冯一", "mobile": "13911112222", "project": project.pk}
    )
    assert first.status_code == 302
    second = client.post(
        REGISTER, {"name": "陈二", "mobile": "13922223333", "project": project.pk}
    )
    assert second.status_code == 400
    # The broker's page is in Chinese: the message was written in it.
    assert "24 小时内" in " ".join(second.context["form"].non_field_errors())
    assert PartnerRegistration.objects.count() == 1


# Races and odd input -----------------------------------------------------------------


def test_a_number_registered_at_the_same_moment_elsewhere_is_no_server_error(
    client, broker, partner, project, monkeypatch
):
    """Two brokers type the same new number at once: both look it up and find
    nothing, the first creates the customer, the second's insert meets the unique
    index. The second is answered (here: the first's protection refuses it), not
    with a 500."""
    first = CustomerFactory(mobile="+8613911112222")  # the other desk's, committed
    monkeypatch.setattr(partner_services, "customer_find_by_phone", lambda m: None)
    client.force_login(broker)
    client.raise_request_exception = False
    response = client.post(
        REGISTER, {"name": "冯一", "mobile": "13911112222", "project": project.pk}
    )
    assert response.status_code in (302, 400)
    assert Customer.objects.filter(mobile="+8613911112222").count() == 1
    link = PartnerRegistration.objects.get()
    assert link.customer_id == first.pk


@pytest.mark.django_db(transaction=True)
def test_two_brokers_registering_one_new_number_at_once_one_wins(
    broker, partner, other_broker, other_partner, project
):
    """Real threads: the same new number from two partners at the same moment. One
    partner protects it, the other is refused; neither request fails."""
    barrier = threading.Barrier(2)
    real_find = partner_services.customer_find_by_phone
    results: dict[str, object] = {}

    def find(mobile):
        found = real_find(mobile)
        barrier.wait(timeout=10)  # both have looked the number up
        return found

    def run(who, user, company):
        try:
            results[who] = register(user, company, project, mobile="+8613955556666")
        except Exception as exc:  # noqa: BLE001 - the outcome is the assertion
            results[who] = exc
        finally:
            connection.close()

    partner_services.customer_find_by_phone = find
    try:
        threads = [
            threading.Thread(target=run, args=("a", broker, partner)),
            threading.Thread(target=run, args=("b", other_broker, other_partner)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        partner_services.customer_find_by_phone = real_find
    outcomes = sorted(type(r).__name__ for r in results.values())
    assert outcomes == ["PartnerRegistration", "PartnerRegistrationRefused"], results
    assert Customer.objects.filter(mobile="+8613955556666").count() == 1
    assert PartnerRegistration.objects.count() == 1


@pytest.mark.parametrize("partner_id", ["²", "١٢", "99999999999999999999999", "-1"])
def test_the_commission_list_ignores_a_partner_that_is_no_id(
    client, marketer, partner_id
):
    client.force_login(marketer)
    client.raise_request_exception = False
    response = client.get(COMMISSIONS, {"partner": partner_id})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "data",
    [
        {"name": "冯一", "mobile": "13911112222", "project": "abc"},
        {"name": "冯一", "mobile": "13911112222", "project": "99999999999999999999"},
        {"name": "冯" * 5000, "mobile": "13911112222", "project": ""},
        {"name": "冯一", "mobile": "1" * 5000, "project": ""},
        {"name": "冯一", "mobile": "+86 139 1111 2222 ext 9", "project": ""},
        {"name": "", "mobile": "", "project": ""},
    ],
)
def test_the_portal_refuses_odd_input_without_saving(client, broker, project, data):
    client.force_login(broker)
    client.raise_request_exception = False
    response = client.post(REGISTER, data)
    assert response.status_code == 400
    assert not Customer.objects.exists()


def test_portal_pages_survive_odd_page_numbers(client, broker, partner, project):
    register(broker, partner, project)
    client.force_login(broker)
    client.raise_request_exception = False
    for page in ("abc", "-1", "0", "99999999999999999999999", "²"):
        assert client.get(PORTAL, {"page": page}).status_code == 200
        assert client.get(PORTAL_COMMISSIONS, {"page": page}).status_code == 200


# What the broker learns about a customer the CRM knew already ------------------------


def test_a_number_that_is_another_customers_second_phone_shows_as_typed(
    client, broker, partner, project
):
    """The broker typed a number the CRM holds as someone's second phone: the
    registration protects that customer, but the partner's list masks the number
    the broker gave, never the customer's own primary mobile (which would tell the
    broker the number is a known customer's, and most of another number)."""
    known = CustomerFactory(name="张三", mobile="+8613800001234")
    ContactPoint.objects.create(
        customer=known, kind=ContactPoint.Kind.MOBILE, value="+8613911112222"
    )
    client.force_login(broker)
    client.post(
        REGISTER, {"name": "冯一", "mobile": "13911112222", "project": project.pk}
    )
    link = PartnerRegistration.objects.get()
    assert link.customer_id == known.pk
    body = client.get(PORTAL).content.decode()
    assert "139****2222" in body
    assert "138****1234" not in body and "张三" not in body


def test_the_commission_list_masks_the_number_the_broker_gave(
    client, broker, partner, project, consultant, sign
):
    known = CustomerFactory(
        name="张三", mobile="+8613800001234", assigned_consultant=consultant
    )
    ContactPoint.objects.create(
        customer=known, kind=ContactPoint.Kind.MOBILE, value="+8613911112222"
    )
    register(broker, partner, project)
    sign(known, consultant)
    assert Commission.objects.exists()
    client.force_login(broker)
    body = client.get(PORTAL_COMMISSIONS).content.decode()
    assert "139****2222" in body
    assert "138****1234" not in body and "张三" not in body


def test_anonymising_the_customer_clears_the_number_the_broker_typed(
    broker, partner, project, administrator, django_capture_on_commit_callbacks
):
    from customers.services import customer_anonymise

    link = register(broker, partner, project)
    assert link.mobile_given == "+8613911112222"
    with django_capture_on_commit_callbacks(execute=True):
        customer_anonymise(
            actor=administrator,
            customer=link.customer,
            reference="MK-5",
            reason="本人要求",
        )
    link.refresh_from_db()
    assert (link.name_given, link.mobile_given) == ("", "")


def test_a_number_found_just_before_a_merge_is_shown_to_the_projects_managers(
    client, broker, partner, project, team, sales_manager, monkeypatch
):
    """The broker's number was looked up, then a merge committed: the sales managers
    of the project are given sight of the record the registration protects (the
    survivor), and its timeline says the partner registered it."""
    from customers.models import Interaction
    from customers.services.merge import customer_merge

    project.teams.add(team)
    absorbed = CustomerFactory(mobile="+8613911112222")
    survivor = CustomerFactory()
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    monkeypatch.setattr(partner_services, "customer_find_by_phone", lambda m: absorbed)
    link = register(broker, partner, project)
    assert link.customer_id == survivor.pk
    assert (
        Customer.objects.visible_to(sales_manager, one=True)
        .filter(pk=survivor.pk)
        .exists()
    )
    assert Interaction.objects.filter(
        customer=survivor, event="marketing.partner_registered"
    ).exists()


def test_a_broker_handed_over_is_told_the_name_they_gave_not_the_crms(
    broker, partner, project, sales_manager, consultant
):
    """The broker typed 冯一 for a number the CRM holds as 张三's: the notification
    that sales took the customer over must not tell the broker the CRM's name."""
    CustomerFactory(name="张三", mobile="+8613911112222")
    link = register(broker, partner, project, name="冯一")
    registration_reassign(
        actor=sales_manager,
        registration=link.registration,
        consultant=consultant,
        reason="到访",
    )
    note = Notification.objects.filter(user=broker).latest("pk")
    assert "张三" not in note.text


# Owners: recommending friends ---------------------------------------------------------


@pytest.fixture
def signed_owner(owner, owner_household, consultant):
    opportunity_contract(actor=consultant, opportunity=owner_household.deal)
    return owner


@pytest.mark.django_db(transaction=True)
def test_an_owner_posting_recommendations_at_once_stays_within_the_daily_cap(
    consultant, owner_household
):
    """Ten requests at the same moment from one owner: the owner's row lock counts
    them one after the other, so no more than the cap are kept."""
    from marketing.services.referrals import referral_from_owner

    opportunity_contract(actor=consultant, opportunity=owner_household.deal)
    owner = owner_household.buyer
    for n in range(RECOMMENDATIONS_PER_DAY - 1):
        referral_from_owner(
            owner=owner,
            friend_name=f"朋友{n}",
            friend_mobile=f"+86136000{n:05d}",
            friend_agreed=True,
        )
    barrier = threading.Barrier(4)
    errors: list[Exception] = []

    def run(n):
        try:
            barrier.wait(timeout=10)
            referral_from_owner(
                owner=owner,
                friend_name=f"同时{n}",
                friend_mobile=f"+86135000{n:05d}",
                friend_agreed=True,
            )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert Recommendation.objects.filter(owner=owner).count() == RECOMMENDATIONS_PER_DAY
    assert len(errors) == 3


def test_an_owner_recommending_a_known_customer_learns_nothing_of_them(
    owner_client, signed_owner, other_consultant
):
    known = CustomerFactory(
        name="张三", mobile="+8613911112222", assigned_consultant=other_consultant
    )
    response = owner_client.post(
        RECOMMEND,
        {"friend_name": "小冯", "friend_mobile": "13911112222", "friend_agreed": "on"},
        follow=True,
    )
    body = response.content.decode()
    assert "小冯" in body
    assert known.name not in body and "2222" not in body


# Every POST of the outside doors needs the CSRF token --------------------------------


def test_the_partner_portal_refuses_a_post_without_the_csrf_token(broker, project):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(broker)
    response = client.post(
        REGISTER, {"name": "冯一", "mobile": "13911112222", "project": project.pk}
    )
    assert response.status_code == 403
    assert not Customer.objects.filter(mobile="+8613911112222").exists()


def test_the_owner_portal_refuses_a_recommendation_without_the_csrf_token(
    signed_owner,
):
    from tests.portal_fixtures import owner_client_for

    client = owner_client_for(signed_owner)
    client.handler.enforce_csrf_checks = True
    response = client.post(
        RECOMMEND,
        {"friend_name": "小冯", "friend_mobile": "13911112222", "friend_agreed": "on"},
    )
    assert response.status_code == 403
    assert not Recommendation.objects.exists()
