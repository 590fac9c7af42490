"""One-stop intake (首问负责制): whoever takes the call finds the caller, picks the
unit and records the request, and is its first receiver."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from crm_site.roles import ROLE_PERMISSIONS, Role
from customers.models import Customer
from sales.models import Opportunity, Unit
from service import services
from service.models import ServiceRequest
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow

LOOKUP = "service:caller-lookup"
CREATE = "service:request-create"


def own(customer: Customer, unit: Unit, consultant) -> Opportunity:
    """A signed deal: the customer owns the unit."""
    return Opportunity.objects.create(
        customer=customer,
        project=unit.building.project,
        unit=unit,
        consultant=consultant,
        stage=Opportunity.Stage.CONTRACTED,
    )


@pytest.fixture
def two_unit_owner(units, other_consultant):
    """An owner of two units, registered by a consultant of the same team."""
    owner = CustomerFactory(
        name="周大福",
        mobile="+8613512345678",
        stage="owner",
        assigned_consultant=other_consultant,
    )
    own(owner, units[0], other_consultant)
    own(owner, units[1], other_consultant)
    return owner


@pytest.fixture
def one_unit_owner(units, other_consultant):
    owner = CustomerFactory(
        name="吴一楼",
        mobile="+8613711112222",
        stage="owner",
        assigned_consultant=other_consultant,
    )
    own(owner, units[2], other_consultant)
    return owner


def record(client, **fields):
    data = {
        "kind": "repair",
        "category": "plumbing",
        "severity": "normal",
        "channel": "phone",
        "description": "卫生间漏水",
        **fields,
    }
    return client.post(reverse(CREATE), data)


def lookup(client, **params) -> str:
    response = client.get(reverse(LOOKUP), params)
    assert response.status_code == 200
    return response.content.decode()


# The lookup -------------------------------------------------------------------------


def test_a_full_mobile_finds_any_caller_with_their_units_and_the_number_masked(
    client, consultant, service_agent, two_unit_owner, units
):
    # The owner belongs to another consultant: outside this consultant's scope.
    assert not Customer.objects.visible_to(consultant).filter(pk=two_unit_owner.pk)
    client.force_login(consultant)
    shown = lookup(client, mobile="135 1234 5678")
    assert "周大福" in shown
    assert "135****5678" in shown and "135 1234 5678" not in shown
    for unit in units[:2]:
        assert f"{unit.building.name} {unit.number}" in shown
        assert f'name="unit" id="unit-{unit.pk}" value="{unit.pk}"' in shown
    # Two units: none is chosen for the caller.
    assert "checked>" not in shown.split('name="unit"')[1]

    client.force_login(service_agent)  # may see full numbers
    assert "135 1234 5678" in lookup(client, mobile="+86 135-1234-5678")


@pytest.mark.parametrize(
    "typed", ["１３５－１２３４－５６７８", "＋８６　１３５　１２３４　５６７８"]
)
def test_a_mobile_typed_in_full_width_finds_the_caller(
    client, service_agent, two_unit_owner, typed
):
    # A Chinese input method types "－", "＋" and the ideographic space.
    client.force_login(service_agent)
    assert "周大福" in lookup(client, mobile=typed)


def test_a_name_search_stays_within_the_users_scope(
    client, consultant, service_agent, own_customer, two_unit_owner
):
    client.force_login(consultant)
    assert "张三" in lookup(client, mobile="张三")
    # Another consultant's customer is not found by name, only by their number.
    shown = lookup(client, mobile="周大福")
    assert "周大福" not in shown and 'data-testid="caller-none"' in shown

    client.force_login(service_agent)  # buyers and owners only
    assert "周大福" in lookup(client, mobile="周大福")
    assert "张三" not in lookup(client, mobile="张三")


def test_picking_one_of_several_callers_shows_that_callers_units(
    client, service_agent, two_unit_owner, one_unit_owner, units
):
    CustomerFactory(name="周小川", stage="owner")
    client.force_login(service_agent)
    shown = lookup(client, mobile="周")
    assert shown.count('data-testid="caller-match"') == 2
    assert 'data-testid="caller-units"' not in shown  # nobody picked yet
    shown = lookup(client, mobile="周", customer=two_unit_owner.pk)
    units_part = shown.split('data-testid="caller-units"')[1]
    assert f'value="{units[0].pk}"' in units_part
    assert f'value="{units[2].pk}"' not in units_part


def test_the_lookup_query_count_does_not_grow_with_matches_and_units(
    client, service_agent, units, other_consultant
):
    client.force_login(service_agent)

    def grow():
        for n, unit in enumerate(units):
            owner = CustomerFactory(
                name=f"陈{n}号", stage="owner", assigned_consultant=other_consultant
            )
            own(owner, unit, other_consultant)

    CustomerFactory(name="陈先生", stage="owner")
    assert_queries_do_not_grow(
        lambda: client.get(reverse(LOOKUP), {"mobile": "陈"}), grow, at_most=12
    )


# Recording --------------------------------------------------------------------------


def test_a_repair_needs_a_unit_when_the_owner_has_two(
    client, service_agent, two_unit_owner, units
):
    client.force_login(service_agent)
    response = record(client, mobile="13512345678")
    assert response.status_code == 200
    assert response.context["form"].errors["unit"]
    assert 'data-testid="unit-error"' in response.content.decode()
    assert not ServiceRequest.objects.exists()

    response = record(
        client, mobile="13512345678", customer=two_unit_owner.pk, unit=units[1].pk
    )
    created = ServiceRequest.objects.get()
    assert response.url == created.get_absolute_url()
    assert (created.unit, created.kind, created.receiver) == (
        units[1],
        "repair",
        service_agent,
    )


def test_the_only_unit_is_preselected_and_taken(
    client, service_agent, one_unit_owner, units
):
    client.force_login(service_agent)
    shown = lookup(client, mobile="137 1111 2222")
    assert f'id="unit-{units[2].pk}" value="{units[2].pk}" checked' in shown
    record(client, mobile="137 1111 2222")
    assert ServiceRequest.objects.get().unit == units[2]


def test_a_complaint_may_name_no_unit_but_never_someone_elses(
    client, service_agent, two_unit_owner, units
):
    client.force_login(service_agent)
    response = record(client, mobile="13512345678", kind="complaint", unit=units[4].pk)
    assert response.context["form"].errors["unit"]
    assert not ServiceRequest.objects.exists()
    record(client, mobile="13512345678", kind="complaint")
    assert ServiceRequest.objects.get().unit is None


def test_a_caller_who_owns_nothing_is_recorded_as_an_enquiry(
    client, consultant, own_customer
):
    client.force_login(consultant)
    assert 'data-testid="caller-enquiry"' in lookup(client, mobile="138 0013 8000")
    response = record(client, mobile="138 0013 8000", kind="complaint")
    created = ServiceRequest.objects.get()
    assert created.kind == "inquiry" and created.customer == own_customer
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert created.number in message and "咨询" in message


def test_an_unknown_number_registers_the_caller_and_records_an_enquiry(
    client, service_agent
):
    client.force_login(service_agent)
    assert 'data-testid="caller-new"' in lookup(client, mobile="150 0000 1111")
    response = record(client, mobile="150 0000 1111")
    assert response.context["form"].errors["name"]
    assert not Customer.objects.exists() and not ServiceRequest.objects.exists()

    response = record(client, mobile="150 0000 1111", name=" 郑  新 ", channel="wechat")
    caller = Customer.objects.get()
    assert (caller.name, caller.mobile, caller.source) == (
        "郑 新",
        "+8615000001111",
        "wechat",
    )
    created = ServiceRequest.objects.get()
    assert created.kind == "inquiry" and created.customer == caller
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert "郑 新" in message and created.number in message

    # The same number again reuses the customer (no twin).
    record(client, mobile="150 0000 1111", name="别名")
    assert Customer.objects.count() == 1 and ServiceRequest.objects.count() == 2


def test_a_registration_race_reuses_the_customer_the_other_desk_created(
    service_agent, consultant
):
    CustomerFactory(name="先到", mobile="+8615000002222")
    intake = services.request_intake(
        actor=consultant,
        caller=None,
        new_name="后到",
        new_mobile="+8615000002222",
        unit=None,
        kind="complaint",
        category="other",
        severity="normal",
        channel="phone",
        description="问交房时间",
    )
    assert intake.request.customer.name == "先到" and not intake.registered


@pytest.mark.parametrize(
    "data",
    [
        {"mobile": ""},
        {"mobile": "王"},  # a name, nobody picked
        {"customer": "999999"},  # not a caller the lookup offered
        {"mobile": "150 0000 3333", "name": "新人", "description": " "},
        {"mobile": "150 0000 3333", "name": "新人", "severity": "bogus"},
    ],
)
def test_bad_input_saves_nothing_and_says_which_field(
    client, service_agent, two_unit_owner, data
):
    client.force_login(service_agent)
    before = Customer.objects.count()
    response = record(client, **{"mobile": "13512345678", "kind": "complaint", **data})
    assert response.status_code == 200 and response.context["form"].errors
    assert Customer.objects.count() == before
    assert not ServiceRequest.objects.exists()


# Who records and who sees -----------------------------------------------------------


def test_every_role_that_takes_calls_may_record_and_no_other():
    takes_calls = {
        Role.CONSULTANT,
        Role.SALES_MANAGER,
        Role.SERVICE_AGENT,
        Role.SERVICE_MANAGER,
        Role.ADMINISTRATOR,
    }
    for role, perms in ROLE_PERMISSIONS.items():
        assert ("service.record_service_request" in perms) == (role in takes_calls)


def test_a_consultant_records_an_owners_call_becomes_first_receiver_and_sees_only_it(
    client, consultant, service_agent, two_unit_owner, owner_customer, units
):
    others = services.request_create(
        actor=service_agent,
        customer=owner_customer,
        kind="complaint",
        category="design",
        severity="normal",
        channel="phone",
        description="别人登记的",
    )
    client.force_login(consultant)
    assert client.get(reverse(CREATE)).status_code == 200
    response = record(
        client, mobile="135 1234 5678", customer=two_unit_owner.pk, unit=units[0].pk
    )
    mine = ServiceRequest.objects.get(receiver=consultant)
    assert (mine.customer, mine.unit, mine.kind) == (two_unit_owner, units[0], "repair")
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert mine.number in message

    page = client.get(mine.get_absolute_url())
    assert page.status_code == 200
    text = page.content.decode()
    assert consultant.display_name in text and "135****5678" in text
    assert 'data-testid="service-nav"' not in text
    assert reverse("service:request-assign", args=[mine.pk]) not in text
    listed = client.get(reverse("service:request-list"), {"view": "all"})
    assert [r.pk for r in listed.context["page"].items] == [mine.pk]

    # Not the rest of the service desk.
    assert client.get(others.get_absolute_url()).status_code == 404
    assert client.get(reverse("service:home")).status_code == 403
    start = reverse("service:request-start", args=[mine.pk])
    assert client.post(start).status_code == 403


@pytest.mark.parametrize(
    "persona", ["executive", "marketer", "outsider"], indirect=True
)
def test_roles_that_take_no_calls_cannot_record(client, persona, two_unit_owner):
    client.force_login(persona)
    assert client.get(reverse(CREATE)).status_code == 403
    assert client.get(reverse(LOOKUP), {"mobile": "13512345678"}).status_code == 403
    assert record(client, mobile="13512345678").status_code == 403
    assert not ServiceRequest.objects.exists()


def test_the_consultants_request_list_does_not_grow_in_queries(
    client, consultant, two_unit_owner
):
    client.force_login(consultant)

    def grow():
        for n in range(5):
            services.request_create(
                actor=consultant,
                customer=two_unit_owner,
                kind="complaint",
                category="other",
                severity="low",
                channel="phone",
                description=str(n),
            )

    assert_queries_do_not_grow(
        lambda: client.get(reverse("service:request-list")), grow, at_most=8
    )
