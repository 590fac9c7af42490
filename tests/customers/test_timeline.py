from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from crm_site.models import AuditEntry
from customers import services
from customers.models import ConsentRecord, ContactPoint, Customer, Interaction
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow


def log_url(customer):
    return reverse("customers:interaction-create", args=[customer.pk])


def test_interaction_log_moves_last_contact_and_sets_the_follow_up(
    consultant, own_customer
):
    tomorrow = timezone.localdate() + timedelta(days=1)
    services.interaction_log(
        customer=own_customer,
        kind="visit",
        summary="到访",
        actor=consultant,
        next_follow_up=tomorrow,
    )
    own_customer.refresh_from_db()
    assert own_customer.last_contact_at is not None
    assert own_customer.next_follow_up == tomorrow


def test_a_real_contact_clears_the_follow_up_it_fulfilled_but_a_note_does_not(
    consultant, own_customer
):
    tomorrow = timezone.localdate() + timedelta(days=1)
    services.interaction_log(
        customer=own_customer,
        kind="call_out",
        summary="a",
        actor=consultant,
        next_follow_up=tomorrow,
    )
    services.interaction_log(
        customer=own_customer, kind="note", summary="note", actor=consultant
    )
    own_customer.refresh_from_db()
    assert own_customer.next_follow_up == tomorrow
    services.interaction_log(
        customer=own_customer, kind="call_out", summary="b", actor=consultant
    )
    own_customer.refresh_from_db()
    assert own_customer.next_follow_up is None


def test_an_older_contact_logged_late_does_not_move_last_contact_back(
    consultant, own_customer
):
    services.interaction_log(
        customer=own_customer, kind="visit", summary="now", actor=consultant
    )
    own_customer.refresh_from_db()
    latest = own_customer.last_contact_at
    services.interaction_log(
        customer=own_customer,
        kind="call_in",
        summary="old",
        actor=consultant,
        occurred_at=timezone.now() - timedelta(days=3),
    )
    own_customer.refresh_from_db()
    assert own_customer.last_contact_at == latest


def test_interaction_can_link_an_object_of_another_app(
    consultant, own_customer, other_consultant
):
    entry = services.interaction_log(
        customer=own_customer,
        kind="system",
        summary="linked",
        actor=None,
        link=other_consultant,
    )
    assert entry.link_label == str(other_consultant)
    assert entry.link_url is None  # users have no registered page


def test_consent_withdrawal_is_recorded_and_the_flag_follows(consultant, own_customer):
    services.consent_set(
        actor=consultant,
        customer=own_customer,
        purpose="email",
        granted=True,
        method="form",
    )
    services.consent_set(
        actor=consultant,
        customer=own_customer,
        purpose="email",
        granted=False,
        method="verbal",
        note="电话里说不要邮件",
    )
    own_customer.refresh_from_db()
    assert own_customer.consent_email is False
    assert (
        ConsentRecord.objects.filter(customer=own_customer, purpose="email").count()
        == 2
    )
    assert AuditEntry.objects.filter(object_id=own_customer.pk).count() == 2


def test_household_link_joins_two_customers_and_their_households(
    consultant, own_customer
):
    spouse = CustomerFactory(assigned_consultant=consultant)
    services.household_link(
        actor=consultant, customer=own_customer, other=spouse, role="spouse"
    )
    own_customer.refresh_from_db()
    spouse.refresh_from_db()
    assert own_customer.household_id == spouse.household_id is not None
    assert (
        spouse.household_role == "spouse" and own_customer.household_role == "principal"
    )
    child = CustomerFactory(assigned_consultant=consultant)
    third = CustomerFactory(assigned_consultant=consultant)
    services.household_link(
        actor=consultant, customer=child, other=third, role="parent"
    )
    services.household_link(
        actor=consultant, customer=own_customer, other=child, role="child"
    )
    assert Customer.objects.filter(household=own_customer.household).count() == 4


def _households_of(*customers) -> list[tuple[int | None, str]]:
    return [
        (c.household_id, c.household_role)
        for c in Customer.objects.filter(pk__in=[c.pk for c in customers]).order_by(
            "pk"
        )
    ]


@pytest.fixture
def mixed_household(administrator, consultant, others_customer, pool_customer):
    """A household an administrator linked: the other consultant's protected
    customer, a customer of the public pool, and one of ours."""
    ours = CustomerFactory(
        name="孙丽", mobile="+8615000002222", assigned_consultant=consultant
    )
    services.household_link(
        actor=administrator, customer=others_customer, other=ours, role="spouse"
    )
    services.household_link(
        actor=administrator, customer=others_customer, other=pool_customer, role="child"
    )
    return ours


def test_household_link_refuses_to_move_members_the_actor_may_not_edit(
    consultant, own_customer, others_customer, pool_customer, mixed_household
):
    """Joining our customer's household with a co-buyer's would move the other
    consultant's customer and a pool customer: refused, naming the one the
    consultant may see and counting the other, and nothing changes."""
    child = CustomerFactory(assigned_consultant=consultant)
    services.household_link(
        actor=consultant, customer=own_customer, other=child, role="child"
    )
    members = (own_customer, child, others_customer, pool_customer, mixed_household)
    before = _households_of(*members)
    entries = AuditEntry.objects.count()
    with (
        translation.override("en"),
        pytest.raises(services.HouseholdRefused) as refused,
    ):
        services.household_link(
            actor=consultant,
            customer=own_customer,
            other=mixed_household,
            role="spouse",
        )
    message = str(refused.value)
    assert "钱七" in message and "1 customer you cannot see" in message
    assert "赵六" not in message and "孙丽" not in message
    assert _households_of(*members) == before
    assert AuditEntry.objects.count() == entries


def test_household_link_moves_a_whole_household_the_actor_may_edit(
    administrator, own_customer, others_customer, mixed_household
):
    """Someone who may edit every member joins the households, audited per row."""
    child = CustomerFactory(assigned_consultant=own_customer.assigned_consultant)
    services.household_link(
        actor=administrator, customer=own_customer, other=child, role="child"
    )
    services.household_link(
        actor=administrator,
        customer=own_customer,
        other=mixed_household,
        role="spouse",
    )
    own_customer.refresh_from_db()
    assert Customer.objects.filter(household=own_customer.household).count() == 5
    assert (
        AuditEntry.objects.filter(
            object_id=others_customer.pk, changes__has_key="household"
        ).count()
        == 2
    )


def test_household_link_joins_a_household_that_once_held_a_merged_duplicate(
    administrator, consultant
):
    """The wife's duplicate record was linked too, then merged into her: it keeps
    its household (undoing the merge gives it back), is not moved when the couple
    joins the parents' household, and so does not stop anyone linking them."""
    from customers.services.merge import customer_merge, customer_merge_restore

    husband = CustomerFactory(name="张三", assigned_consultant=consultant)
    wife = CustomerFactory(name="李四", assigned_consultant=consultant)
    duplicate = CustomerFactory(name="李四", assigned_consultant=consultant)
    services.household_link(
        actor=consultant, customer=husband, other=wife, role="spouse"
    )
    services.household_link(
        actor=consultant, customer=husband, other=duplicate, role="spouse"
    )
    couple = Customer.objects.get(pk=husband.pk).household_id
    record = customer_merge(
        actor=administrator, survivor=wife, absorbed=duplicate, choices={}
    )
    father = CustomerFactory(name="张父", assigned_consultant=consultant)
    mother = CustomerFactory(name="张母", assigned_consultant=consultant)
    services.household_link(
        actor=consultant, customer=father, other=mother, role="spouse"
    )

    services.household_link(
        actor=consultant, customer=father, other=husband, role="child"
    )

    parents = Customer.objects.get(pk=father.pk).household_id
    assert _households_of(husband, wife, duplicate) == [
        (parents, "child"),
        (parents, "spouse"),
        (couple, "spouse"),
    ]
    customer_merge_restore(actor=administrator, record=record)
    assert _households_of(duplicate) == [(couple, "spouse")]


# Views -------------------------------------------------------------------------


def test_quick_log_with_htmx_returns_the_refreshed_timeline(
    client, consultant, own_customer
):
    client.force_login(consultant)
    response = client.post(
        log_url(own_customer),
        {"kind": "visit", "summary": "看样板间"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "看样板间" in response.content.decode()
    assert "<html" not in response.content.decode()
    assert Interaction.objects.filter(customer=own_customer).count() == 1


def test_quick_log_without_htmx_redirects_back(client, consultant, own_customer):
    client.force_login(consultant)
    response = client.post(
        log_url(own_customer), {"kind": "call_out", "summary": "回访"}
    )
    assert (
        response.status_code == 302 and response.url == own_customer.get_absolute_url()
    )


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "visit", "summary": "   "},
        {"kind": "system", "summary": "x"},
        {"kind": "visit", "summary": "x", "next_follow_up": "2000-01-01"},
    ],
)
def test_quick_log_refuses_bad_input_and_saves_nothing(
    client, consultant, own_customer, data
):
    client.force_login(consultant)
    response = client.post(log_url(own_customer), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "invalid-feedback" in response.content.decode()
    assert not Interaction.objects.exists()


def test_quick_log_outside_scope_is_404_and_without_right_403(
    client, consultant, marketer, others_customer, pool_customer
):
    client.force_login(consultant)
    assert (
        client.post(
            log_url(others_customer), {"kind": "visit", "summary": "x"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            log_url(pool_customer), {"kind": "visit", "summary": "x"}
        ).status_code
        == 403
    )
    client.force_login(marketer)
    assert (
        client.post(
            log_url(pool_customer), {"kind": "visit", "summary": "x"}
        ).status_code
        == 403
    )
    assert not Interaction.objects.exists()


def test_timeline_partial_filters_by_kind_and_pages(client, consultant, own_customer):
    for n in range(25):
        services.interaction_log(
            customer=own_customer, kind="call_out", summary=f"去电{n}", actor=consultant
        )
    services.interaction_log(
        customer=own_customer, kind="visit", summary="到访一次", actor=consultant
    )
    client.force_login(consultant)
    url = reverse("customers:customer-timeline", args=[own_customer.pk])
    visits = client.get(url, {"kind": "visit"}).content.decode()
    assert "到访一次" in visits and "去电1" not in visits
    first = client.get(url).content.decode()
    assert first.count('class="list-group-item px-0"') == 20 and "page=2" in first
    second = client.get(url, {"page": 2}).content.decode()
    assert second.count('class="list-group-item px-0"') == 6


def test_the_kind_filter_marks_the_chosen_kind_and_links_every_kind(
    client, consultant, own_customer
):
    client.force_login(consultant)
    url = reverse("customers:customer-timeline", args=[own_customer.pk])
    for query, language, chosen, words in (
        ({}, "zh-hans", "全部", ("全部", "来访", "微信")),
        ({"kind": "wechat"}, "zh-hans", "微信", ("全部", "来访", "微信")),
        ({"kind": "visit"}, "en", "Visit", ("All", "Visit", "WeChat")),
    ):
        client.cookies["django_language"] = language
        page = client.get(url, query).content.decode()
        primary = re.findall(r'class="btn btn-sm btn-primary"[^>]*>([^<]+)</a>', page)
        assert primary == [chosen], (query, language)
        for value, _label in Interaction.Kind.choices:
            assert f'hx-get="{url}?kind={value}"' in page
            assert f'href="?kind={value}"' in page
        for word in words:
            assert f">{word}</a>" in page


def test_timeline_partial_query_count_does_not_grow(client, consultant, own_customer):
    client.force_login(consultant)
    url = reverse("customers:customer-timeline", args=[own_customer.pk])
    # One entry to begin with: a page with entries reads their authors (one query,
    # whatever their number).
    services.interaction_log(
        customer=own_customer, kind="visit", summary="first", actor=consultant
    )
    assert_queries_do_not_grow(
        lambda: client.get(url),
        lambda: [
            services.interaction_log(
                customer=own_customer, kind="visit", summary=str(n), actor=consultant
            )
            for n in range(30)
        ],
        at_most=6,
    )


def test_contact_point_add_normalises_and_remove_audits(
    client, consultant, own_customer
):
    client.force_login(consultant)
    url = reverse("customers:contact-point-create", args=[own_customer.pk])
    client.post(url, {"kind": "landline", "value": "021 6234 5678", "label": "公司"})
    point = ContactPoint.objects.get()
    assert point.value == "+862162345678"
    client.post(url, {"kind": "mobile", "value": "12345"})
    assert ContactPoint.objects.count() == 1
    client.post(
        reverse("customers:contact-point-delete", args=[own_customer.pk, point.pk])
    )
    assert not ContactPoint.objects.exists()
    assert AuditEntry.objects.filter(object_id=own_customer.pk).count() == 2


def test_detail_masks_further_numbers_and_the_id_for_roles_without_the_right(
    client, consultant, marketer, own_customer
):
    services.customer_update(
        actor=consultant,
        customer=own_customer,
        id_type="resident_id",
        id_number="11010519491231002X",
    )
    ContactPoint.objects.create(
        customer=own_customer, kind="mobile", value="+8613911112222"
    )
    client.force_login(marketer)
    body = client.get(own_customer.get_absolute_url()).content.decode()
    assert "110***********002X" in body and "11010519491231002X" not in body
    assert "139****2222" in body
    client.force_login(consultant)
    body = client.get(own_customer.get_absolute_url()).content.decode()
    assert "11010519491231002X" in body and "139 1111 2222" in body


def test_consent_view_records_a_withdrawal(client, consultant, own_customer):
    client.force_login(consultant)
    client.post(
        reverse("customers:consent-update", args=[own_customer.pk]),
        {"purpose": "service", "granted": "0", "method": "verbal", "note": ""},
    )
    own_customer.refresh_from_db()
    assert own_customer.consent_service is False


def test_household_view_links_by_phone_within_scope_only(
    client, consultant, own_customer, others_customer
):
    mine = CustomerFactory(assigned_consultant=consultant, mobile="+8615000001111")
    client.force_login(consultant)
    url = reverse("customers:household-link", args=[own_customer.pk])
    client.post(
        url, {"phone": "139 0013 9000", "role": "spouse"}
    )  # not visible to this consultant
    own_customer.refresh_from_db()
    assert own_customer.household_id is None
    client.post(url, {"phone": "150 0000 1111", "role": "spouse"})
    mine.refresh_from_db()
    own_customer.refresh_from_db()
    assert mine.household_id == own_customer.household_id is not None


def test_household_view_refuses_to_move_a_colleagues_customer_and_says_who(
    client, consultant, own_customer, others_customer, mixed_household
):
    """The co-buyer is ours, but their household holds customers we may not
    change: the page says so next to nothing saved."""
    child = CustomerFactory(assigned_consultant=consultant)
    services.household_link(
        actor=consultant, customer=own_customer, other=child, role="child"
    )
    before = _households_of(own_customer, others_customer, mixed_household)
    client.force_login(consultant)
    response = client.post(
        reverse("customers:household-link", args=[own_customer.pk]),
        {"phone": "150 0000 2222", "role": "spouse"},
        follow=True,
    )
    text = response.content.decode()
    # The message, in the reader's language, names the pool customer it would move.
    assert "钱七" in text and "赵六" not in text
    assert _households_of(own_customer, others_customer, mixed_household) == before


def test_each_entry_shows_its_author_or_the_system(
    client, consultant, sales_manager, own_customer
):
    """The authors are read for the page's entries apart from the entries: each
    shows its own, and an entry nobody wrote shows the system."""
    consultant.last_name, consultant.first_name = "赵", "一"
    consultant.save()
    now = timezone.now()
    for minutes, author in ((3, consultant), (2, sales_manager), (1, None)):
        Interaction.objects.create(
            customer=own_customer,
            kind="note",
            summary=f"by {author}",
            created_by=author,
            occurred_at=now - timedelta(minutes=minutes),
        )
    client.force_login(consultant)
    response = client.get(
        reverse("customers:customer-timeline", args=[own_customer.pk])
    )
    assert response.status_code == 200
    html = response.content.decode()
    # Newest first: the system's entry, the manager's, the consultant's.
    shown = [
        html.index(f" · {name}</span>")
        for name in ("系统", sales_manager.display_name, "赵一")
    ]
    assert shown == sorted(shown)


def test_an_entry_links_its_object_only_for_a_reader_whose_role_opens_such_pages(
    client, consultant, service_agent, own_customer
):
    """A deal on the timeline: the consultant opens the deal page; the service
    agent, whose role has no sales desk, reads the entry without a link to a 403."""
    from sales import services as sales_services
    from tests.factories import make_building

    building = make_building(floors=1, per_floor=1, skipped=())
    deal = sales_services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    services.interaction_log(
        customer=own_customer, kind="system", summary="商机", actor=None, link=deal
    )
    own_customer.stage = Customer.Stage.BUYER
    own_customer.save(update_fields=["stage"])
    url = reverse("sales:opportunity-detail", args=[deal.pk])
    for reader, linked in ((consultant, True), (service_agent, False)):
        client.force_login(reader)
        timeline = client.get(
            reverse("customers:customer-timeline", args=[own_customer.pk])
        ).content.decode()
        assert "商机" in timeline
        assert (f'href="{url}"' in timeline) is linked, reader.username


def test_a_link_is_judged_under_a_script_prefix_too(consultant, service_agent):
    """Served under /crm/ (SCRIPT_NAME), reverse() gives /crm/sales/deals/1/."""
    from django.urls import set_script_prefix

    from crm_site import links

    set_script_prefix("/crm/")
    try:
        url = reverse("sales:opportunity-detail", args=[1])
        assert url.startswith("/crm/")
        assert links.may_open(consultant, url)
        assert not links.may_open(service_agent, url)
    finally:
        set_script_prefix("/")
