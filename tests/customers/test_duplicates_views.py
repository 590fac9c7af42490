"""The duplicate list, the side-by-side merge page, dismissal and undoing a merge."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.template.loader import render_to_string
from django.urls import reverse

from customers import merge_handlers, tasks
from customers.models import ContactPoint, Customer, DuplicatePair, MergeRecord
from customers.services.merge import customer_merge
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow

pytestmark = pytest.mark.django_db

LIST = reverse("customers:duplicate-list")
SCAN = reverse("customers:duplicate-scan")


@pytest.fixture(autouse=True)
def _merge_handlers():
    # Until CustomersConfig.ready() connects them; connect() is idempotent.
    merge_handlers.connect()


def make_pair(a: Customer, b: Customer, reasons=("phone",)) -> DuplicatePair:
    first, second = sorted([a, b], key=lambda c: c.pk)
    return DuplicatePair.objects.create(first=first, second=second, reasons=reasons)


def merge_url(pair: DuplicatePair) -> str:
    return reverse("customers:duplicate-merge", args=[pair.pk])


def dismiss_url(pair: DuplicatePair) -> str:
    return reverse("customers:duplicate-dismiss", args=[pair.pk])


def restore_url(record: MergeRecord) -> str:
    return reverse("customers:merge-restore", args=[record.pk])


@pytest.fixture
def pair(own_customer, others_customer):
    return make_pair(own_customer, others_customer, ["phone", "name_phone_tail"])


@pytest.fixture
def far_pair(own_customer, far_consultant):
    """A pair whose second customer belongs to another team."""
    return make_pair(own_customer, CustomerFactory(assigned_consultant=far_consultant))


# Rights and scope -----------------------------------------------------------------


def test_a_consultant_without_the_merge_right_is_refused_everything(
    client, consultant, pair
):
    record = customer_merge(
        actor=None,
        survivor=pair.first,
        absorbed=CustomerFactory(assigned_consultant=consultant),
        choices={},
    )
    client.force_login(consultant)

    assert client.get(LIST).status_code == 403
    assert client.post(SCAN).status_code == 403
    assert client.get(merge_url(pair)).status_code == 403
    assert client.post(merge_url(pair)).status_code == 403
    assert client.post(dismiss_url(pair)).status_code == 403
    assert client.post(restore_url(record)).status_code == 403
    pair.refresh_from_db()
    assert pair.status == DuplicatePair.Status.OPEN


def test_a_pair_with_a_customer_out_of_scope_is_not_found(
    client, sales_manager, far_pair
):
    client.force_login(sales_manager)

    assert far_pair not in [row.pair for row in client.get(LIST).context["rows"]]
    assert client.get(merge_url(far_pair)).status_code == 404
    assert client.post(merge_url(far_pair), {}).status_code == 404
    assert client.post(dismiss_url(far_pair)).status_code == 404
    far_pair.refresh_from_db()
    assert far_pair.status == DuplicatePair.Status.OPEN


def test_undoing_a_merge_of_a_customer_out_of_scope_is_not_found(
    client, sales_manager, far_consultant
):
    survivor = CustomerFactory(assigned_consultant=far_consultant)
    record = customer_merge(
        actor=None, survivor=survivor, absorbed=CustomerFactory(), choices={}
    )
    client.force_login(sales_manager)

    assert client.post(restore_url(record)).status_code == 404
    record.refresh_from_db()
    assert record.restored_at is None


# The list -------------------------------------------------------------------------


def test_the_list_shows_open_pairs_with_names_numbers_and_reasons(
    client, sales_manager, pair
):
    dismissed = make_pair(CustomerFactory(), CustomerFactory())
    dismissed.status = DuplicatePair.Status.DISMISSED
    dismissed.save()
    client.force_login(sales_manager)

    response = client.get(LIST)

    assert response.status_code == 200
    assert [row.pair for row in response.context["rows"]] == [pair]
    body = response.content.decode()
    assert "张三" in body and "赵六" in body
    assert "138 0013 8000" in body
    assert "电话号码相同" in body
    assert "姓名和电话尾号相同" in body


def test_the_list_masks_numbers_the_user_may_not_see_in_full(
    client, consultant, own_customer, pool_customer
):
    consultant.user_permissions.add(Permission.objects.get(codename="merge_customer"))
    make_pair(own_customer, pool_customer)
    client.force_login(consultant)

    body = client.get(LIST).content.decode()

    assert "138 0013 8000" in body
    assert "137****7000" in body
    assert "137 0013 7000" not in body


def test_the_list_query_count_does_not_grow_with_pairs(client, sales_manager, team):
    client.force_login(sales_manager)
    make_pair(CustomerFactory(), CustomerFactory())

    def grow():
        for _ in range(5):
            make_pair(CustomerFactory(), CustomerFactory())

    assert_queries_do_not_grow(lambda: client.get(LIST), grow, at_most=12)


def test_scan_is_queued_after_the_request_commits(
    client, sales_manager, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.duplicate_scan, "delay", lambda: queued.append(True))
    client.force_login(sales_manager)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(SCAN)

    assert response.status_code == 302
    assert len(callbacks) == 1
    assert queued == [True]


def test_scan_refuses_get(client, sales_manager):
    client.force_login(sales_manager)
    assert client.get(SCAN).status_code == 405


# The merge page -------------------------------------------------------------------


def test_merge_page_compares_every_field_and_changes_nothing(
    client, sales_manager, own_customer, others_customer, pair
):
    client.force_login(sales_manager)

    response = client.get(merge_url(pair))

    assert response.status_code == 200
    # The older customer survives unless swapped.
    assert response.context["survivor"] == own_customer
    names = [row.name for row in response.context["rows"]]
    assert "mobile" in names and "name" in names and "consent_sms" in names
    assert "138 0013 8000" in response.content.decode()
    assert not MergeRecord.objects.exists()
    own_customer.refresh_from_db()
    assert own_customer.merged_into is None


def test_merge_page_defaults_to_the_non_empty_value(
    client, sales_manager, own_customer, others_customer, pair
):
    Customer.objects.filter(pk=others_customer.pk).update(email="z@example.com")
    client.force_login(sales_manager)

    rows = {r.name: r for r in client.get(merge_url(pair)).context["rows"]}

    assert rows["email"].chosen == "absorbed"
    assert rows["name"].chosen == "survivor"


def test_merge_page_can_swap_the_survivor(client, sales_manager, others_customer, pair):
    client.force_login(sales_manager)

    response = client.get(merge_url(pair), {"survivor": others_customer.pk})

    assert response.context["survivor"] == others_customer


def test_sales_manager_merges_a_pair(
    client, sales_manager, own_customer, others_customer, pair
):
    client.force_login(sales_manager)
    rows = client.get(merge_url(pair)).context["rows"]
    data = {row.name: "survivor" for row in rows}
    data.update({"survivor": own_customer.pk, "name": "absorbed"})

    response = client.post(merge_url(pair), data)

    assert response.status_code == 302
    assert response.url == own_customer.get_absolute_url()
    own_customer.refresh_from_db()
    others_customer.refresh_from_db()
    assert others_customer.merged_into == own_customer
    assert own_customer.name == "赵六"
    assert ContactPoint.objects.filter(
        customer=own_customer, value="+8613900139000"
    ).exists()
    pair.refresh_from_db()
    assert pair.status == DuplicatePair.Status.MERGED


def test_merge_with_a_missing_choice_shows_the_form_and_merges_nothing(
    client, sales_manager, own_customer, pair
):
    client.force_login(sales_manager)

    response = client.post(merge_url(pair), {"survivor": own_customer.pk})

    assert response.status_code == 200
    assert response.context["form"].errors
    assert not MergeRecord.objects.exists()


def test_merge_page_of_a_decided_pair_goes_back_to_the_list(
    client, sales_manager, pair
):
    pair.status = DuplicatePair.Status.DISMISSED
    pair.save()
    client.force_login(sales_manager)

    response = client.get(merge_url(pair))

    assert response.status_code == 302
    assert response.url == LIST


# Dismiss and restore --------------------------------------------------------------


def test_dismiss_marks_the_pair_as_not_a_duplicate(client, sales_manager, pair):
    client.force_login(sales_manager)

    assert client.get(dismiss_url(pair)).status_code == 405
    response = client.post(dismiss_url(pair))

    assert response.status_code == 302
    pair.refresh_from_db()
    assert pair.status == DuplicatePair.Status.DISMISSED
    assert pair.decided_by == sales_manager


def test_sales_manager_undoes_a_merge(
    client, sales_manager, own_customer, others_customer
):
    record = customer_merge(
        actor=sales_manager,
        survivor=own_customer,
        absorbed=others_customer,
        choices={"mobile": "absorbed"},
    )
    client.force_login(sales_manager)

    assert client.get(restore_url(record)).status_code == 405
    response = client.post(restore_url(record))

    assert response.status_code == 302
    assert response.url == others_customer.get_absolute_url()
    others_customer.refresh_from_db()
    own_customer.refresh_from_db()
    assert others_customer.merged_into is None
    assert own_customer.mobile == "+8613800138000"
    assert others_customer.mobile == "+8613900139000"


def test_undoing_a_merge_twice_shows_an_error(
    client, sales_manager, own_customer, others_customer
):
    record = customer_merge(
        actor=sales_manager,
        survivor=own_customer,
        absorbed=others_customer,
        choices={},
    )
    client.force_login(sales_manager)
    client.post(restore_url(record))

    response = client.post(restore_url(record), follow=True)

    messages = [str(m) for m in response.context["messages"]]
    assert "该合并已被撤销。" in messages


def test_merge_history_include_offers_undo(rf, sales_manager, own_customer):
    record = customer_merge(
        actor=sales_manager,
        survivor=own_customer,
        absorbed=CustomerFactory(name="重复客户"),
        choices={},
    )
    request = rf.get("/")
    request.user = sales_manager
    html = render_to_string(
        "customers/_merge_history.html",
        {
            "merges": MergeRecord.objects.filter(survivor=own_customer).select_related(
                "absorbed", "merged_by"
            )
        },
        request=request,
    )

    assert "重复客户" in html
    assert restore_url(record) in html
