"""What keeps every request light: the shortcuts must say what the long way says."""

from __future__ import annotations

import phonenumbers
import pytest
from django.core.cache import cache
from django.template import engines
from django.template.loaders.cached import Loader as CachedLoader
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from crm_site.lookups import IdArray
from crm_site.models import Notification
from crm_site.notifications import notify, unread_count
from customers.forms import InteractionForm
from customers.models import Customer
from customers.phones import format_phone, national_digits
from sales.models import Opportunity
from tests.factories import CustomerFactory


def test_templates_are_compiled_once_per_process():
    """django-template-partials sets the loaders itself: its loader wraps Django's
    cached loader, which keeps each compiled template for the life of the process."""
    engine = engines["django"].engine
    chain, loaders = [], list(engine.template_loaders)
    while loaders:
        loader = loaders.pop(0)
        chain.append(type(loader))
        loaders.extend(getattr(loader, "loaders", []))
    assert CachedLoader in chain


@pytest.mark.django_db
def test_choice_labels_are_shown_in_the_readers_language():
    customer = CustomerFactory(stage=Customer.Stage.BUYER, source="referral")
    deal = Opportunity(stage=Opportunity.Stage.SUBSCRIBED)
    with translation.override("en"):
        english = (customer.get_stage_display(), customer.get_source_display())
        assert english == (
            str(Customer.Stage.BUYER.label),
            str(Customer.Source("referral").label),
        )
        assert deal.get_stage_display() == str(Opportunity.Stage.SUBSCRIBED.label)
    with translation.override("zh-hans"):
        chinese = (customer.get_stage_display(), customer.get_source_display())
        assert chinese == (
            str(Customer.Stage.BUYER.label),
            str(Customer.Source("referral").label),
        )
    assert chinese != english
    # A value outside the choices is shown as it is, as Django does.
    customer.stage = "unknown"
    assert customer.get_stage_display() == "unknown"


def test_one_redis_client_serves_every_cache_call():
    client = cache._cache.get_client()
    assert cache._cache.get_client(write=True) is client
    cache.set("request-cost-probe", 1, 5)
    assert cache.get("request-cost-probe") == 1


@pytest.mark.parametrize(
    "number",
    [
        "+8613800138000",
        "+8613912345678",
        "+861012345678",
        "+85291234567",
        "+12025550123",
    ],
)
def test_mainland_numbers_are_shown_as_phonenumbers_would_show_them(number):
    parsed = phonenumbers.parse(number, None)
    assert national_digits(number) == str(parsed.national_number)
    if (
        phonenumbers.region_code_for_number(parsed) == "CN"
        and len(str(parsed.national_number)) == 11
    ):
        digits = str(parsed.national_number)
        assert format_phone(number) == f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    else:
        assert " " in format_phone(number)


def test_the_quick_log_kinds_are_rendered_once_with_the_chosen_one_selected():
    blank = InteractionForm()
    assert blank.kind_options is blank.kind_options
    assert '<option value="call_out" selected>' in blank.kind_options
    sent = InteractionForm(data={"kind": "wechat", "summary": ""})
    assert '<option value="wechat" selected>' in sent.kind_options
    assert 'value="call_out" selected' not in sent.kind_options
    assert 'name="kind"' in sent.quick_fields


@pytest.mark.django_db
def test_the_bell_counts_new_and_read_notifications_at_once(client, consultant):
    cache.delete(f"unread:{consultant.pk}")
    client.force_login(consultant)
    assert unread_count(consultant) == 0
    notify(user=consultant, message="新客户到访")
    notify(user=consultant, message="跟进提醒")
    assert unread_count(consultant) == 2
    page = client.get(reverse("notifications")).content.decode()
    assert 'rounded-pill bg-danger">2</span>' in page

    first = Notification.objects.filter(user=consultant).order_by("pk").first()
    client.post(reverse("notification-open", args=[first.pk]))
    assert unread_count(consultant) == 1
    client.post(reverse("notifications-read-all"))
    assert unread_count(consultant) == 0
    page = client.get(reverse("notifications")).content.decode()
    assert "rounded-pill bg-danger" not in page

    Notification.objects.filter(user=consultant).delete()
    notify(user=consultant, message="又一条")
    assert unread_count(consultant) == 1


@pytest.mark.django_db
def test_the_header_links_lead_where_they_say(client, consultant):
    client.force_login(consultant)
    page = client.get(reverse("notifications")).content.decode()
    for name in ("home", "notifications", "password_change", "logout"):
        assert f'"{reverse(name)}"' in page


@pytest.mark.django_db
def test_remembered_urls_are_the_urls_reverse_gives(consultant):
    from crm_site.reversing import cached_reverse, cached_reverse_all, reverse_id

    customer = CustomerFactory(assigned_consultant=consultant)
    assert customer.get_absolute_url() == reverse(
        "customers:customer-detail", args=[customer.pk]
    )
    for pk in (1, 42, 1000310):
        assert reverse_id("customers:interaction-create", pk) == reverse(
            "customers:interaction-create", args=[pk]
        )
    assert cached_reverse("sales:my-day") == reverse("sales:my-day")
    names = ["home", "sales:my-day", "customers:customer-list", "logout"]
    assert cached_reverse_all(names) == [reverse(name) for name in names]
    with pytest.raises(NoReverseMatch):
        reverse_id("customers:contact-point-delete", 1)


@pytest.mark.django_db
def test_any_of_finds_what_in_finds_with_the_list_as_one_parameter():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    customers = CustomerFactory.create_batch(3)
    ids = [c.pk for c in customers[:2]] + [10**12]
    with CaptureQueriesContext(connection) as ctx:
        found = set(
            Customer.objects.filter(pk__any_of=ids).values_list("pk", flat=True)
        )
    assert found == set(
        Customer.objects.filter(pk__in=ids).values_list("pk", flat=True)
    )
    assert found == {customers[0].pk, customers[1].pk}
    assert "= ANY(" in ctx.captured_queries[0]["sql"]
    assert not Customer.objects.filter(pk__any_of=[]).exists()
    # IdArray: the same rows, the list handed to the ORM as one value.
    assert (
        set(
            Customer.objects.filter(pk__any_of=IdArray(ids)).values_list(
                "pk", flat=True
            )
        )
        == found
    )
    # On a foreign key too (the team scope).
    owner = customers[2].assigned_consultant_id
    if owner is not None:
        assert Customer.objects.filter(assigned_consultant_id__any_of=[owner]).exists()
