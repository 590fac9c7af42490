"""The customers' REST resources: /api/v1/customers/ and /api/v1/interactions/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crm_site.api.scopes import Scope
from crm_site.audit import audit_entries_for
from crm_site.models import AuditEntry
from customers import events as customer_events
from customers import services
from customers.models import ContactPoint, Customer, Interaction
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow

pytestmark = pytest.mark.django_db

READ = Scope.CUSTOMERS_READ
WRITE = Scope.CUSTOMERS_WRITE
LOG = Scope.INTERACTIONS_WRITE
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    return body


def _fields(body: dict) -> set[str]:
    return {error["field"] for error in body["errors"]}


# ------------------------------------------------------------------ find by phone


@pytest.mark.parametrize(
    "typed", ["13800138000", "138 0013 8000", "+86 138-0013-8000", "8613800138000"]
)
def test_customer_found_by_phone_in_any_format(
    api_client, consultant, own_customer, typed
):
    client = api_client(consultant, READ)
    response = client.get("/api/v1/customers/", {"phone": typed})
    assert _ids(response) == [own_customer.pk]
    row = response.json()["results"][0]
    assert row["mobile"] == "138 0013 8000"  # the owner sees the number in full
    assert row["mobile_masked"] is False
    assert row["consultant"] == {"id": consultant.pk, "name": "李娜"}


def test_customer_found_by_a_further_phone_number(api_client, consultant, own_customer):
    ContactPoint.objects.create(
        customer=own_customer, kind=ContactPoint.Kind.LANDLINE, value="+862087654321"
    )
    client = api_client(consultant, READ)
    assert _ids(client.get("/api/v1/customers/?phone=020-8765-4321")) == [
        own_customer.pk
    ]


def test_phone_lookup_stays_within_the_consultants_customers(
    api_client, consultant, others_customer, pool_customer
):
    client = api_client(consultant, READ)
    assert _ids(client.get("/api/v1/customers/?phone=13900139000")) == []
    # The public pool is visible to every consultant, its numbers masked.
    response = client.get("/api/v1/customers/?phone=13700137000")
    assert _ids(response) == [pool_customer.pk]
    row = response.json()["results"][0]
    assert row["mobile"] == "137****7000"
    assert row["mobile_masked"] is True
    assert "13700137000" not in response.content.decode()


def test_phone_lookup_refuses_what_is_not_a_phone_number(api_client, consultant):
    client = api_client(consultant, READ)
    body = _problem(client.get("/api/v1/customers/?phone=12345", **EN), 422)
    assert _fields(body) == {"phone"}


def test_name_search_uses_the_uis_search(api_client, consultant, own_customer):
    CustomerFactory(name="李四", assigned_consultant=consultant)
    client = api_client(consultant, READ)
    assert _ids(client.get("/api/v1/customers/", {"q": "张三"})) == [own_customer.pk]
    assert _ids(client.get("/api/v1/customers/", {"q": "三"})) == [own_customer.pk]
    body = _problem(client.get("/api/v1/customers/?q=13", **EN), 422)
    assert _fields(body) == {"q"}


def test_customer_list_is_the_consultants_customers_and_the_pool(
    api_client, consultant, own_customer, others_customer, pool_customer
):
    client = api_client(consultant, READ)
    ids = _ids(client.get("/api/v1/customers/"))
    assert set(ids) == {own_customer.pk, pool_customer.pk}


def test_customer_list_queries_do_not_grow_with_rows(
    api_client, sales_manager, consultant
):
    customer = CustomerFactory(assigned_consultant=consultant)
    customer.tags.create(name="学区房")
    ContactPoint.objects.create(
        customer=customer, kind="mobile", value="+8613512345678"
    )
    client = api_client(sales_manager, READ)

    def grow():
        for _n in range(5):
            more = CustomerFactory(assigned_consultant=consultant)
            more.tags.create(name=f"标签{more.pk}")
            ContactPoint.objects.create(customer=more, kind="email", value="a@b.cn")

    assert_queries_do_not_grow(
        lambda: _ids(client.get("/api/v1/customers/")), grow, at_most=8
    )


# ------------------------------------------------------------------------ detail


def test_customer_detail_shows_what_the_customer_page_shows(
    api_client, consultant, own_customer
):
    own_customer.tags.create(name="学区房")
    response = api_client(consultant, READ).get(
        f"/api/v1/customers/{own_customer.pk}/", **EN
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "张三"
    assert body["mobile"] == "138 0013 8000"
    assert body["stage"] == "prospect"
    assert body["stage_label"] == "Prospect"
    assert body["source"] == "walk_in"
    assert body["tags"] == ["学区房"]


def test_another_consultants_customer_is_404(api_client, consultant, others_customer):
    client = api_client(consultant, READ)
    _problem(client.get(f"/api/v1/customers/{others_customer.pk}/"), 404)


def test_numbers_are_masked_where_the_ui_masks_them(
    api_client, consultant, sales_manager, pool_customer
):
    ContactPoint.objects.create(
        customer=pool_customer, kind="mobile", value="+8613512345678"
    )
    url = f"/api/v1/customers/{pool_customer.pk}/"
    masked = api_client(consultant, READ).get(url).json()
    assert masked["mobile"] == "137****7000"
    assert masked["contact_points"][0]["value"] == "135****5678"
    # The sales manager's role sees numbers (customers.view_contact), as in the UI.
    full = api_client(sales_manager, READ).get(url).json()
    assert full["mobile"] == "137 0013 7000"
    assert full["contact_points"][0]["value"] == "135 1234 5678"


def test_a_key_without_the_scope_is_403(api_client, consultant, own_customer):
    client = api_client(consultant, WRITE, LOG)
    _problem(client.get("/api/v1/customers/"), 403)
    _problem(client.get(f"/api/v1/customers/{own_customer.pk}/"), 403)


def test_a_role_that_cannot_see_customers_is_403(api_client, outsider):
    _problem(api_client(outsider, READ).get("/api/v1/customers/"), 403)


# ------------------------------------------------------------------------ create

NEW = {"name": "  王 五 ", "mobile": "186 2222 3333", "source": "web", "tags": ["官网"]}


def test_consultant_registers_a_customer_and_owns_it(api_client, consultant):
    client = api_client(consultant, WRITE)
    response = client.post("/api/v1/customers/", NEW, format="json")
    assert response.status_code == 201, response.content
    customer = Customer.objects.get()
    assert customer.name == "王 五"
    assert customer.mobile == "+8618622223333"
    assert customer.source == "web"
    assert customer.assigned_consultant == consultant
    assert response.json()["id"] == customer.pk
    assert response.json()["tags"] == ["官网"]
    entry = audit_entries_for(customer).get()
    assert entry.action == AuditEntry.Action.CREATE
    assert entry.actor == consultant


def test_create_with_bad_input_is_422_and_saves_nothing(api_client, consultant):
    client = api_client(consultant, WRITE)
    response = client.post(
        "/api/v1/customers/",
        {"name": " ", "mobile": "0755 1234 5678", "email": "not-mail"},
        format="json",
        **EN,
    )
    body = _problem(response, 422)
    assert {"name", "mobile"} <= _fields(body)
    response = client.post(
        "/api/v1/customers/",
        {"name": "王五", "mobile": "18622223333", "stage": "king"},
        format="json",
    )
    assert _fields(_problem(response, 422)) == {"stage"}
    response = client.post(
        "/api/v1/customers/",
        {
            "name": "王五",
            "mobile": "18622223333",
            "id_type": "resident_id",
            "id_number": "123",
        },
        format="json",
    )
    assert _fields(_problem(response, 422)) == {"id_number"}
    assert not Customer.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_twin_is_409_with_the_existing_customer(api_client, consultant, own_customer):
    client = api_client(consultant, WRITE)
    response = client.post(
        "/api/v1/customers/",
        {"name": "张三丰", "mobile": "+86 138 0013 8000"},
        format="json",
    )
    body = _problem(response, 409)
    assert body["existing_id"] == own_customer.pk
    assert Customer.objects.count() == 1


def test_a_protected_twin_is_named_by_its_consultant_only(
    api_client, consultant, others_customer
):
    client = api_client(consultant, WRITE)
    response = client.post(
        "/api/v1/customers/",
        {"name": "赵六", "mobile": "13900139000"},
        format="json",
        **EN,
    )
    body = _problem(response, 409)
    # As the UI's form: the customer exists and whose it is, nothing about them.
    assert body["existing_id"] is None
    assert body["owner"] == "王强"
    assert "consultant 王强" in body["detail"]
    assert others_customer.name not in response.content.decode()
    assert Customer.objects.count() == 1


def test_a_role_that_cannot_add_customers_is_403(api_client, service_agent):
    client = api_client(service_agent, WRITE)
    _problem(client.post("/api/v1/customers/", NEW, format="json"), 403)
    assert not Customer.objects.exists()


def test_only_a_role_that_assigns_may_name_the_consultant(
    api_client, consultant, other_consultant, sales_manager
):
    data = {**NEW, "consultant": other_consultant.pk}
    _problem(
        api_client(consultant, WRITE).post("/api/v1/customers/", data, format="json"),
        403,
    )
    response = api_client(sales_manager, WRITE).post(
        "/api/v1/customers/", data, format="json"
    )
    assert response.status_code == 201, response.content
    assert Customer.objects.get().assigned_consultant == other_consultant


# ------------------------------------------------------------------------ update


def test_consultant_changes_own_customer(api_client, consultant, own_customer):
    client = api_client(consultant, WRITE)
    response = client.patch(
        f"/api/v1/customers/{own_customer.pk}/",
        {"email": "zhang@example.com", "tags": ["改善型"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    own_customer.refresh_from_db()
    assert own_customer.email == "zhang@example.com"
    assert own_customer.name == "张三"  # untouched fields stay
    assert own_customer.mobile == "+8613800138000"
    assert response.json()["tags"] == ["改善型"]
    entry = audit_entries_for(own_customer).get()
    assert entry.action == AuditEntry.Action.UPDATE
    assert set(entry.changes) == {"email", "tags"}


def test_update_with_bad_input_is_422_and_saves_nothing(
    api_client, consultant, own_customer
):
    client = api_client(consultant, WRITE)
    response = client.patch(
        f"/api/v1/customers/{own_customer.pk}/",
        {"email": "nope", "name": "张三三"},
        format="json",
    )
    assert _fields(_problem(response, 422)) == {"email"}
    own_customer.refresh_from_db()
    assert own_customer.name == "张三"
    assert not audit_entries_for(own_customer).exists()


def test_update_to_a_twins_mobile_is_409(
    api_client, consultant, own_customer, pool_customer
):
    client = api_client(consultant, WRITE)
    response = client.patch(
        f"/api/v1/customers/{own_customer.pk}/",
        {"mobile": "13700137000"},
        format="json",
    )
    assert _problem(response, 409)["existing_id"] == pool_customer.pk
    own_customer.refresh_from_db()
    assert own_customer.mobile == "+8613800138000"


def test_update_outside_scope_is_404_and_without_the_right_403(
    api_client, consultant, others_customer, marketer, own_customer
):
    client = api_client(consultant, WRITE)
    url = f"/api/v1/customers/{others_customer.pk}/"
    _problem(client.patch(url, {"name": "x"}, format="json"), 404)
    # Marketing sees consenting customers but changes none (no change_customer).
    client = api_client(marketer, WRITE, READ)
    url = f"/api/v1/customers/{own_customer.pk}/"
    assert client.get(url).status_code == 200
    _problem(client.patch(url, {"name": "x"}, format="json"), 403)
    own_customer.refresh_from_db()
    assert own_customer.name == "张三"


def test_update_needs_the_write_scope(api_client, consultant, own_customer):
    client = api_client(consultant, READ)
    url = f"/api/v1/customers/{own_customer.pk}/"
    _problem(client.patch(url, {"name": "x"}, format="json"), 403)


# ------------------------------------------------------------------ interactions


def test_consultant_logs_a_call(api_client, consultant, own_customer):
    client = api_client(consultant, LOG)
    response = client.post(
        "/api/v1/interactions/",
        {"customer": own_customer.pk, "kind": "call_out", "summary": "约周六看房"},
        format="json",
        **EN,
    )
    assert response.status_code == 201, response.content
    interaction = Interaction.objects.get(customer=own_customer, kind="call_out")
    assert interaction.channel == "phone"
    assert interaction.created_by == consultant
    body = response.json()
    assert body["text"] == "约周六看房"
    assert body["kind_label"] == "Outgoing call"
    own_customer.refresh_from_db()
    assert own_customer.last_contact_at == interaction.occurred_at


def test_a_wechat_message_logged_with_its_time(api_client, consultant, own_customer):
    when = timezone.now() - timedelta(hours=2)
    response = api_client(consultant, LOG).post(
        "/api/v1/interactions/",
        {
            "customer": own_customer.pk,
            "kind": "wechat",
            "summary": "发了户型图",
            "occurred_at": when.isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    interaction = Interaction.objects.get(kind="wechat")
    assert interaction.occurred_at == when
    assert interaction.channel == "wechat"


def test_logging_needs_the_scope_the_scope_and_the_customer(
    api_client, consultant, own_customer, others_customer, marketer
):
    data = {"customer": own_customer.pk, "kind": "visit", "summary": "来访"}
    _problem(
        api_client(consultant, READ).post("/api/v1/interactions/", data, format="json"),
        403,
    )
    client = api_client(consultant, LOG)
    _problem(
        client.post(
            "/api/v1/interactions/",
            {**data, "customer": others_customer.pk},
            format="json",
        ),
        404,
    )
    _problem(
        api_client(marketer, LOG).post("/api/v1/interactions/", data, format="json"),
        403,
    )
    assert not Interaction.objects.exists()


def test_logging_bad_input_is_422_and_saves_nothing(
    api_client, consultant, own_customer
):
    client = api_client(consultant, LOG)
    for data, field in [
        ({"kind": "system", "summary": "x"}, "kind"),
        ({"kind": "visit", "summary": "   "}, "summary"),
        (
            {"kind": "visit", "summary": "x", "next_follow_up": "2000-01-01"},
            "next_follow_up",
        ),
        (
            {
                "kind": "visit",
                "summary": "x",
                "occurred_at": (timezone.now() + timedelta(days=1)).isoformat(),
            },
            "occurred_at",
        ),
    ]:
        response = client.post(
            "/api/v1/interactions/",
            {"customer": own_customer.pk, **data},
            format="json",
            **EN,
        )
        assert _fields(_problem(response, 422)) == {field}, data
    assert not Interaction.objects.exists()


def test_timeline_newest_first_in_the_callers_language(
    api_client, consultant, own_customer
):
    older = services.interaction_log(
        customer=own_customer,
        kind="call_in",
        entry=customer_events.CONTACT_WITHOUT_NOTES(kind="call_in"),
        actor=consultant,
        occurred_at=timezone.now() - timedelta(days=1),
    )
    newer = services.interaction_log(
        customer=own_customer, kind="visit", summary="看了样板间", actor=consultant
    )
    client = api_client(consultant, READ)
    url = f"/api/v1/interactions/?customer={own_customer.pk}"
    assert _ids(client.get(url)) == [newer.pk, older.pk]
    english = client.get(url, **EN).json()["results"][1]
    chinese = client.get(url, **ZH).json()["results"][1]
    assert english["event"] == chinese["event"] == "customers.contact"
    assert english["text"] != chinese["text"]
    assert "Incoming call" in english["text"]
    assert "来电" in chinese["text"]


def test_timeline_needs_a_visible_customer_and_the_read_scope(
    api_client, consultant, others_customer, own_customer
):
    client = api_client(consultant, READ)
    _problem(client.get(f"/api/v1/interactions/?customer={others_customer.pk}"), 404)
    assert _fields(_problem(client.get("/api/v1/interactions/"), 422)) == {"customer"}
    _problem(
        api_client(consultant, LOG).get(
            f"/api/v1/interactions/?customer={own_customer.pk}"
        ),
        403,
    )


def test_timeline_queries_do_not_grow_with_rows(api_client, consultant, own_customer):
    client = api_client(consultant, READ)
    url = f"/api/v1/interactions/?customer={own_customer.pk}"
    services.interaction_log(
        customer=own_customer, kind="visit", summary="来访", actor=consultant
    )

    def grow():
        for n in range(5):
            services.interaction_log(
                customer=own_customer, kind="call_out", summary=f"第{n}次", actor=None
            )

    assert_queries_do_not_grow(lambda: _ids(client.get(url)), grow, at_most=8)


def test_schema_documents_the_filters_and_the_twin_conflict(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    customers = schema["paths"]["/api/v1/customers/"]
    assert {p["name"] for p in customers["get"]["parameters"]} >= {"phone", "q"}
    assert {"409", "422"} <= set(customers["post"]["responses"])
    timeline = schema["paths"]["/api/v1/interactions/"]["get"]["parameters"]
    assert {"name": "customer", "required": True}.items() <= next(
        p for p in timeline if p["name"] == "customer"
    ).items()
    units = schema["paths"]["/api/v1/units/"]["get"]["parameters"]
    assert {p["name"] for p in units} >= {"project", "building", "status"}
