from __future__ import annotations

import re

import pytest
from django.urls import reverse

from crm_site.models import AuditEntry
from customers import services
from customers.models import ContactPoint, Customer
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow

LIST = reverse("customers:customer-list")
CREATE = reverse("customers:customer-create")


def detail(customer):
    return reverse("customers:customer-detail", args=[customer.pk])


def edit(customer):
    return reverse("customers:customer-edit", args=[customer.pk])


def valid_form(**overrides):
    data = {
        "name": "王五",
        "kind": "person",
        "mobile": "+86 186-1234-5678",
        "email": "",
        "gender": "male",
        "source": "walk_in",
        "stage": "prospect",
        "notes": "",
    }
    data.update(overrides)
    return data


# The list ---------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_outsider_without_a_role_is_refused_the_list(client, outsider):
    client.force_login(outsider)
    assert client.get(LIST).status_code == 403


def test_consultant_lists_own_and_pool_customers_only(
    client, consultant, own_customer, others_customer, pool_customer
):
    client.force_login(consultant)
    response = client.get(LIST)
    assert response.status_code == 200
    names = [c.name for c in response.context["page"].items]
    assert set(names) == {"张三", "钱七"}


def test_consultant_sees_own_number_in_full_and_pool_numbers_masked(
    client, consultant, own_customer, pool_customer
):
    client.force_login(consultant)
    body = client.get(LIST).content.decode()
    assert "138 0013 8000" in body
    assert "137****7000" in body
    assert "137 0013 7000" not in body


def test_sales_manager_sees_the_whole_team_but_not_other_teams(
    client, sales_manager, own_customer, others_customer, far_consultant
):
    far = CustomerFactory(assigned_consultant=far_consultant)
    client.force_login(sales_manager)
    items = client.get(LIST).context["page"].items
    assert {own_customer, others_customer} <= set(items)
    assert far not in items


def test_service_agent_sees_buyers_and_owners_only(
    client, service_agent, own_customer, owner_customer
):
    client.force_login(service_agent)
    items = client.get(LIST).context["page"].items
    assert items == [owner_customer]


def test_marketer_sees_every_customer_with_numbers_masked(
    client, marketer, own_customer
):
    client.force_login(marketer)
    body = client.get(LIST).content.decode()
    assert "138****8000" in body
    assert "138 0013 8000" not in body


@pytest.mark.parametrize(
    "query", ["张三", "张", "13800138000", "138 0013 8000", "+86 138-0013-8000", "8000"]
)
def test_list_search_finds_by_name_or_phone(
    client, sales_manager, own_customer, others_customer, query
):
    client.force_login(sales_manager)
    items = client.get(LIST, {"q": query}).context["page"].items
    assert items == [own_customer]


def test_list_filters_by_stage_and_ignores_unknown_values(
    client, sales_manager, own_customer, owner_customer
):
    client.force_login(sales_manager)
    assert client.get(LIST, {"stage": "owner"}).context["page"].items == [
        owner_customer
    ]
    assert len(client.get(LIST, {"stage": "bogus"}).context["page"].items) == 2


def test_list_paginates_without_counting_the_table(client, sales_manager, consultant):
    CustomerFactory.create_batch(30, assigned_consultant=consultant)
    client.force_login(sales_manager)
    first = client.get(LIST).context["page"]
    second = client.get(LIST, {"page": 2}).context["page"]
    assert len(first.items) == 25 and first.has_next
    assert len(second.items) == 5 and not second.has_next
    assert client.get(LIST, {"page": "x"}).status_code == 200


def test_list_query_count_does_not_grow_with_rows(client, sales_manager, consultant):
    client.force_login(sales_manager)
    CustomerFactory.create_batch(3, assigned_consultant=consultant)
    assert_queries_do_not_grow(
        lambda: client.get(LIST),
        lambda: CustomerFactory.create_batch(20, assigned_consultant=consultant),
        at_most=12,
    )


# The detail page ---------------------------------------------------------------


def test_consultant_opens_own_customer(client, consultant, own_customer):
    client.force_login(consultant)
    response = client.get(detail(own_customer))
    assert response.status_code == 200
    assert response.context["mobile_display"] == "138 0013 8000"
    assert response.context["can_edit"]


def test_consultant_gets_404_for_another_consultants_customer(
    client, consultant, others_customer
):
    client.force_login(consultant)
    assert client.get(detail(others_customer)).status_code == 404


def test_consultant_sees_a_pool_customer_masked_and_cannot_edit_it(
    client, consultant, pool_customer
):
    client.force_login(consultant)
    response = client.get(detail(pool_customer))
    assert response.context["mobile_display"] == "137****7000"
    assert not response.context["can_edit"]
    assert client.get(edit(pool_customer)).status_code == 403


def test_outsider_is_refused_the_detail_page(client, outsider, own_customer):
    client.force_login(outsider)
    assert client.get(detail(own_customer)).status_code == 403


def test_detail_shows_the_audit_trail(client, consultant):
    client.force_login(consultant)
    client.post(CREATE, valid_form())
    customer = Customer.objects.get()
    client.post(edit(customer), valid_form(stage="buyer"))
    page = client.get(detail(customer), HTTP_ACCEPT_LANGUAGE="en")
    history_url = reverse("customers:customer-history", args=[customer.pk])
    # The trail loads when the page scrolls to it.
    assert f'hx-get="{history_url}"' in page.content.decode()
    body = client.get(history_url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    trail = re.findall(r"<strong>(\w+)</strong>", body)
    assert trail == [AuditEntry.Action.UPDATE.label, AuditEntry.Action.CREATE.label]
    assert "Prospect" in body


def test_detail_query_count_does_not_grow_with_history(
    client, consultant, own_customer
):
    client.force_login(consultant)
    # One entry to begin with: a timeline page with entries reads their authors
    # (one query, whatever their number).
    services.interaction_log(
        customer=own_customer, kind="call_out", summary="first", actor=consultant
    )

    def edit_a_few_times():
        for n in range(25):
            services.interaction_log(
                customer=own_customer,
                kind="call_out",
                summary=f"call {n}",
                actor=consultant,
            )
        ContactPoint.objects.create(
            customer=own_customer, kind="landline", value="+862162345678"
        )
        for stage in ["buyer", "owner", "prospect", "buyer", "owner"]:
            client.post(
                edit(own_customer),
                valid_form(
                    name=own_customer.name, mobile=own_customer.mobile, stage=stage
                ),
            )

    assert_queries_do_not_grow(
        lambda: client.get(detail(own_customer)), edit_a_few_times, at_most=20
    )


# Create -------------------------------------------------------------------------


def test_consultant_creates_a_customer_and_owns_it(client, consultant):
    client.force_login(consultant)
    response = client.post(CREATE, valid_form())
    customer = Customer.objects.get()
    assert response.status_code == 302 and response.url == detail(customer)
    assert customer.mobile == "+8618612345678"
    assert customer.assigned_consultant == consultant
    assert customer.created_by == consultant


@pytest.mark.parametrize(
    "persona", ["marketer", "executive", "service_agent", "outsider"], indirect=True
)
def test_roles_without_the_right_cannot_create_customers(client, persona):
    client.force_login(persona)
    assert client.get(CREATE).status_code == 403
    assert client.post(CREATE, valid_form()).status_code == 403
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "   "),
        ("mobile", "12345"),
        ("mobile", "021 6234 5678"),
        ("email", "not-an-email"),
        ("stage", "vip"),
    ],
)
def test_bad_input_shows_the_error_and_saves_nothing(client, consultant, field, value):
    client.force_login(consultant)
    response = client.post(CREATE, valid_form(**{field: value}))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Customer.objects.exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "typed", ["138 0013 8000", "+86 138-0013-8000", "8613800138000"]
)
def test_second_entry_of_a_number_is_refused_with_a_link_to_the_first(
    client, consultant, own_customer, typed
):
    client.force_login(consultant)
    response = client.post(CREATE, valid_form(mobile=typed))
    assert response.status_code == 200
    error = response.context["form"].errors["mobile"][0]
    assert detail(own_customer) in error
    assert Customer.objects.count() == 1


def test_twin_of_a_customer_the_user_cannot_see_names_the_owner_without_a_link(
    client, consultant, others_customer
):
    client.force_login(consultant)
    response = client.post(CREATE, valid_form(mobile="13900139000"))
    error = response.context["form"].errors["mobile"][0]
    assert detail(others_customer) not in error
    assert "王强" in error


def test_sales_manager_assigns_a_consultant_of_the_team_only(
    client, sales_manager, consultant, far_consultant
):
    client.force_login(sales_manager)
    form = client.get(CREATE).context["form"]
    assert list(form.fields["assigned_consultant"].queryset) == [consultant]
    response = client.post(CREATE, valid_form(assigned_consultant=far_consultant.pk))
    assert "assigned_consultant" in response.context["form"].errors
    client.post(CREATE, valid_form(assigned_consultant=consultant.pk))
    assert Customer.objects.get().assigned_consultant == consultant


def test_consultant_cannot_assign_customers(client, consultant, other_consultant):
    client.force_login(consultant)
    assert "assigned_consultant" not in client.get(CREATE).context["form"].fields
    client.post(CREATE, valid_form(assigned_consultant=other_consultant.pk))
    assert Customer.objects.get().assigned_consultant == consultant


# Edit ---------------------------------------------------------------------------


def test_consultant_edits_own_customer_and_the_change_is_audited(
    client, consultant, own_customer
):
    client.force_login(consultant)
    response = client.post(
        edit(own_customer), valid_form(name="张三", mobile="13800138000", stage="buyer")
    )
    assert response.status_code == 302
    own_customer.refresh_from_db()
    assert own_customer.stage == "buyer"
    entry = AuditEntry.objects.get()
    assert entry.changes["stage"] == {"old": "prospect", "new": "buyer"}
    assert set(entry.changes) == {"stage", "gender"}


def test_consultant_gets_404_editing_another_consultants_customer(
    client, consultant, others_customer
):
    client.force_login(consultant)
    assert client.post(edit(others_customer), valid_form()).status_code == 404
    others_customer.refresh_from_db()
    assert others_customer.name == "赵六"


def test_marketer_sees_only_customers_who_consented(
    client, marketer, own_customer, others_customer
):
    Customer.objects.filter(pk=others_customer.pk).update(consent_sms=False)
    client.force_login(marketer)
    assert client.get(LIST).context["page"].items == [own_customer]
    assert client.get(detail(others_customer)).status_code == 404


def test_marketer_may_not_edit(client, marketer, own_customer):
    client.force_login(marketer)
    assert client.get(edit(own_customer)).status_code == 403


def test_service_agent_edits_an_owner_but_not_a_prospect(
    client, service_agent, owner_customer, own_customer
):
    client.force_login(service_agent)
    response = client.post(
        edit(owner_customer),
        valid_form(
            name="孙八",
            mobile=owner_customer.mobile,
            stage="owner",
            email="s@example.com",
        ),
    )
    assert response.status_code == 302
    assert client.get(edit(own_customer)).status_code == 404


def test_edit_to_a_taken_number_is_refused_and_nothing_changes(
    client, sales_manager, own_customer, others_customer
):
    client.force_login(sales_manager)
    response = client.post(
        edit(own_customer), valid_form(name="新名字", mobile="139 0013 9000")
    )
    assert response.status_code == 200
    assert "mobile" in response.context["form"].errors
    own_customer.refresh_from_db()
    assert own_customer.name == "张三"
    assert not AuditEntry.objects.exists()
