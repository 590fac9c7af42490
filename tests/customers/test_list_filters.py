from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from customers.models import Customer, SavedFilter, Tag
from tests.factories import CustomerFactory

LIST = reverse("customers:customer-list")


def names(response):
    return {c.name for c in response.context["page"].items}


def test_list_filters_by_consultant_tag_contact_and_follow_up(
    client, sales_manager, consultant, other_consultant
):
    today = timezone.localdate()
    vip = Tag.objects.create(name="高意向")
    a = CustomerFactory(
        name="甲",
        assigned_consultant=consultant,
        next_follow_up=today - timedelta(days=2),
        last_contact_at=timezone.now() - timedelta(days=40),
    )
    a.tags.add(vip)
    CustomerFactory(
        name="乙",
        assigned_consultant=other_consultant,
        next_follow_up=today + timedelta(days=3),
        last_contact_at=timezone.now(),
    )
    CustomerFactory(name="丙", assigned_consultant=None)
    client.force_login(sales_manager)
    assert names(client.get(LIST, {"consultant": consultant.pk})) == {"甲"}
    assert names(client.get(LIST, {"consultant": "pool"})) == {"丙"}
    assert names(client.get(LIST, {"tag": vip.pk})) == {"甲"}
    assert names(client.get(LIST, {"follow_up": "overdue"})) == {"甲"}
    assert names(client.get(LIST, {"follow_up": "scheduled"})) == {"甲", "乙"}
    month_ago = (today - timedelta(days=30)).isoformat()
    assert names(client.get(LIST, {"contact_before": month_ago})) == {"甲"}
    assert names(client.get(LIST, {"contact_after": month_ago})) == {"乙"}
    ordered = [
        c.name for c in client.get(LIST, {"sort": "follow_up"}).context["page"].items
    ]
    assert ordered == ["甲", "乙", "丙"]


def test_consultant_can_filter_to_own_customers(
    client, consultant, own_customer, pool_customer
):
    client.force_login(consultant)
    assert names(client.get(LIST, {"consultant": "me"})) == {"张三"}


def test_invalid_filter_values_are_ignored_not_500(client, sales_manager, own_customer):
    client.force_login(sales_manager)
    response = client.get(
        LIST,
        {"contact_after": "not-a-date", "tag": "999", "consultant": "abc", "sort": "x"},
    )
    assert response.status_code == 200
    assert names(response) == {"张三"}


def test_saving_reusing_and_deleting_a_filter(client, consultant, own_customer):
    client.force_login(consultant)
    response = client.post(
        reverse("customers:saved-filter-create"),
        {"name": "我的意向", "stage": "prospect", "q": "张"},
    )
    assert response.status_code == 302
    saved = SavedFilter.objects.get(user=consultant)
    assert "stage=prospect" in saved.query
    listing = client.get(LIST)
    assert [f["name"] for f in listing.context["saved_filters"]] == ["我的意向"]
    client.post(reverse("customers:saved-filter-delete", args=[saved.pk]))
    assert not SavedFilter.objects.exists()


def test_a_filter_of_another_user_cannot_be_deleted(
    client, consultant, other_consultant
):
    saved = SavedFilter.objects.create(
        user=other_consultant, name="x", query="stage=owner"
    )
    client.force_login(consultant)
    assert (
        client.post(
            reverse("customers:saved-filter-delete", args=[saved.pk])
        ).status_code
        == 404
    )
    assert SavedFilter.objects.filter(pk=saved.pk).exists()


def test_list_shows_absorbed_customers_to_nobody(
    client, administrator, own_customer, pool_customer
):
    Customer.objects.filter(pk=pool_customer.pk).update(merged_into=own_customer)
    client.force_login(administrator)
    assert names(client.get(LIST)) == {"张三"}


def test_search_as_you_type_returns_only_the_results(
    client, sales_manager, own_customer, others_customer
):
    from tests.helpers import count_queries

    client.force_login(sales_manager)
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}
    response = client.get(LIST, {"q": "138 0013 8000"}, **headers)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert 'id="results"' in body and "张三" in body and "赵六" not in body
    assert count_queries(lambda: client.get(LIST, {"q": "张"}, **headers)) <= 10


def _page_query(client, params) -> tuple[str, set[str]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    # The SQL Django writes: a prepared statement's would be logged as its EXECUTE.
    with (
        override_settings(DATABASE_PREPARED_STATEMENTS=False),
        CaptureQueriesContext(connection) as queries,
    ):
        response = client.get(LIST, params)
    sql = next(
        q["sql"] for q in queries if "search_rank" in q["sql"] or "LIMIT 26" in q["sql"]
    )
    return sql, names(response)


def test_a_search_checks_the_team_scope_on_the_ids_it_found(
    client, sales_manager, consultant, other_consultant, far_consultant
):
    """Written as for one customer (the team as a subquery) when a search has
    narrowed the rows; as the list of member ids otherwise, an ignored text too."""
    CustomerFactory(name="周冬梅", assigned_consultant=consultant)
    CustomerFactory(name="周冬雪", assigned_consultant=far_consultant)
    client.force_login(sales_manager)
    searched, found = _page_query(client, {"q": "周冬"})
    assert found == {"周冬梅"}
    assert f'"team_id" = {sales_manager.team_id}' in searched
    listed, _ = _page_query(client, {"q": "周" * 101})
    assert "team_id" not in listed and "ANY(" in listed


def test_a_search_alone_is_read_without_building_the_filter_form(
    client, sales_manager, consultant, monkeypatch
):
    from customers.forms import CustomerFilterForm

    CustomerFactory(name="周冬梅", assigned_consultant=consultant)
    CustomerFactory(name="吴秋", assigned_consultant=consultant)
    client.force_login(sales_manager)
    client.get(LIST)  # the filter selects cached
    built = []
    init = CustomerFilterForm.__init__

    def counted(self, *args, **kwargs):
        built.append(args)
        init(self, *args, **kwargs)

    monkeypatch.setattr(CustomerFilterForm, "__init__", counted)
    assert names(client.get(LIST, {"q": " 周冬 "})) == {"周冬梅"}
    # A text too long is no search: the list as it is.
    assert names(client.get(LIST, {"q": "周" * 101})) == {"周冬梅", "吴秋"}
    assert built == []
    # A filter builds it, and the text still narrows.
    assert names(client.get(LIST, {"q": "周冬", "stage": "prospect"})) <= {"周冬梅"}
    assert len(built) == 1


def test_the_texts_error_is_never_cached_with_the_filter_selects(
    client, sales_manager, own_customer
):
    client.force_login(sales_manager)
    too_long = client.get(LIST, {"q": "周" * 101, "stage": "prospect"})
    assert "filter-errors" in too_long.content.decode()
    fine = client.get(LIST, {"q": "周", "stage": "prospect"})
    assert "filter-errors" not in fine.content.decode()
