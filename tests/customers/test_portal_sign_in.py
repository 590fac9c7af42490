"""Owners sign in to the portal with their mobile and a one-time SMS code
(customers.services.portal, customers.views.portal)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone, translation

from crm_site import messaging, outbox
from crm_site.models import AuditEntry
from customers import tasks
from customers.models import Interaction, PortalCode
from customers.services import portal as sign_in
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

OWNER_MOBILE = "+8613812340001"
# Digits not next to other digits: in Chinese the code follows 为 with no word break.
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


@pytest.fixture(autouse=True)
def _sms_kept_in_memory():
    messaging.sms_outbox.clear()
    with override_settings(SMS_BACKEND="crm_site.messaging.LocMemSmsBackend"):
        yield
    messaging.sms_outbox.clear()


def _ask(client: Client, mobile: str = "13812340001", **extra):
    return client.post(reverse("portal:sign-in"), {"mobile": mobile}, **extra)


def _deliver() -> str:
    """What the worker does: send the pending codes; the last SMS's code."""
    sign_in.portal_codes_send_pending()
    return CODE.search(messaging.sms_outbox[-1].text).group(1)


def _enter(client: Client, code: str, remember: bool = False, **extra):
    data = {"code": code}
    if remember:
        data["remember"] = "on"
    return client.post(reverse("portal:sign-in-code"), data, **extra)


def test_an_owner_signs_in_with_the_code_from_the_sms(
    owner, django_capture_on_commit_callbacks
):
    client = Client()
    with django_capture_on_commit_callbacks() as callbacks:
        response = _ask(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:sign-in-code")
    # The request queued the send and did not wait for the provider.
    assert messaging.sms_outbox == []
    assert len(callbacks) == 1
    code = _deliver()
    assert messaging.sms_outbox[-1].phone == OWNER_MOBILE
    response = _enter(client, code)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    assert client.get(reverse("portal:home")).status_code == 200


def test_the_code_is_stored_only_as_a_hash(owner):
    client = Client()
    _ask(client)
    code = _deliver()
    row = PortalCode.objects.get()
    values = " ".join(str(v) for v in PortalCode.objects.values().get().values())
    assert code not in values
    assert row.code_hash and len(row.code_hash) == 64
    assert OWNER_MOBILE not in values


def test_the_send_task_runs_twice_and_sends_once(owner):
    _ask(Client())
    row = PortalCode.objects.get()
    assert tasks.portal_code_send(row.pk) is True
    assert tasks.portal_code_send(row.pk) is False
    assert len(messaging.sms_outbox) == 1
    assert PortalCode.objects.get().status == outbox.Status.SENT


def test_the_answer_is_the_same_for_a_number_that_is_nobodys(owner, own_customer):
    """A stranger's number, a prospect's and an owner's get the same page."""
    pages = []
    for mobile in ("13812340001", "13912345678", "13800138000"):
        client = Client()
        response = _ask(client, mobile)
        assert response.status_code == 302
        page = client.get(reverse("portal:sign-in-code"))
        pages.append(re.sub(r"1\d\d\*\*\*\*\d{4}", "N", page.content.decode()))
        pages[-1] = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", pages[-1])
    assert pages[0] == pages[1] == pages[2]
    sign_in.portal_codes_send_pending()
    # Only the owner was sent a code; the others' rows exist to be counted.
    assert [m.phone for m in messaging.sms_outbox] == [OWNER_MOBILE]
    assert PortalCode.objects.count() == 3
    assert PortalCode.objects.filter(customer__isnull=True).count() == 2


def test_a_prospect_gets_no_code_and_cannot_sign_in(own_customer):
    client = Client()
    _ask(client, "13800138000")
    sign_in.portal_codes_send_pending()
    assert messaging.sms_outbox == []
    response = _enter(client, "123456")
    assert response.status_code == 400
    assert client.get(reverse("portal:home")).status_code == 302


def test_a_co_buyer_signs_in_too(owner_household):
    client = Client()
    _ask(client, "13812340002")
    _enter(client, _deliver())
    response = client.get(reverse("portal:home"))
    assert response.status_code == 200
    assert response.context["portal_owner"] == owner_household.co_buyer


def test_a_wrong_code_is_refused_audited_and_on_the_timeline(owner):
    client = Client()
    _ask(client)
    code = _deliver()
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    response = _enter(client, wrong)
    assert response.status_code == 400
    assert (
        "wrong or has expired" in response.content.decode()
        or response.context["form"].errors
    )
    assert AuditEntry.objects.filter(
        object_id=owner.pk, action=AuditEntry.Action.SIGN_IN_FAILED
    ).exists()
    assert Interaction.objects.filter(
        customer=owner, event="customers.portal_sign_in_failed", channel="portal"
    ).exists()
    assert client.get(reverse("portal:home")).status_code == 302


def test_a_sign_in_is_audited_and_on_the_timeline(owner):
    client = Client()
    _ask(client)
    _enter(client, _deliver(), remember=True)
    entry = AuditEntry.objects.get(object_id=owner.pk, action=AuditEntry.Action.SIGN_IN)
    assert entry.changes["remembered"]["new"] == "True"
    with translation.override("zh-hans"):
        assert ("记住此设备", "", "是") in entry.readable_changes()
    assert Interaction.objects.filter(
        customer=owner,
        event="customers.portal_signed_in_remembered",
        channel="portal",
        kind="system",
    ).exists()


def test_a_code_expires_after_five_minutes(owner):
    client = Client()
    _ask(client)
    code = _deliver()
    PortalCode.objects.update(
        created_at=timezone.now() - timedelta(minutes=6),
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert _enter(client, code).status_code == 400
    assert client.get(reverse("portal:home")).status_code == 302


def test_a_code_works_once(owner):
    client = Client()
    _ask(client)
    code = _deliver()
    assert _enter(client, code).status_code == 302
    client.post(reverse("portal:sign-out"))
    again = Client()
    assert _ask(again).status_code == 302
    # Within the minute no new code is made, and the used one is refused.
    assert _enter(again, code).status_code == 400


def test_an_expired_code_is_not_sent(owner):
    _ask(Client())
    PortalCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    sign_in.portal_codes_send_pending()
    assert messaging.sms_outbox == []


def test_one_code_per_minute_per_number(owner):
    client = Client()
    _ask(client)
    response = _ask(client)
    assert response.status_code == 302
    assert PortalCode.objects.count() == 1


def test_codes_per_number_are_limited_per_hour(owner):
    now = timezone.now()
    for minutes in range(settings.PORTAL_CODES_PER_NUMBER_HOUR):
        sign_in.portal_code_request(
            phone=OWNER_MOBILE,
            ip_address=f"10.0.0.{minutes}",
            now=now - timedelta(minutes=50 - minutes * 5),
        )
    response = _ask(Client())
    assert response.status_code == 429
    assert PortalCode.objects.count() == settings.PORTAL_CODES_PER_NUMBER_HOUR


def test_codes_per_address_are_limited_per_hour(owner):
    now = timezone.now()
    for n in range(settings.PORTAL_CODES_PER_ADDRESS_HOUR):
        sign_in.portal_code_request(
            phone=f"+86139{n:08d}",
            ip_address="127.0.0.1",
            now=now - timedelta(minutes=30),
        )
    response = _ask(Client())
    assert response.status_code == 429
    assert not PortalCode.objects.filter(customer=owner).exists()


def test_repeated_wrong_codes_use_up_the_code_but_never_lock_the_number(owner):
    """A number is not locked (anyone who knows it could keep its owner out): wrong
    codes use up the code's tries, then a new code signs in. The wrong codes are
    still counted for the administrator (portal:c<id>)."""
    client = Client()
    _ask(client)
    code = _deliver()
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    for _n in range(settings.LOGIN_FAILURE_LIMIT):
        response = _enter(client, wrong, HTTP_USER_AGENT="ua")
    assert response.status_code != 429
    # The code's tries are spent: even the right one no longer signs in.
    assert _enter(client, code).status_code != 302
    assert client.get(reverse("portal:home")).status_code == 302
    assert not AuditEntry.objects.filter(
        object_id=owner.pk, action=AuditEntry.Action.LOCK_OUT
    ).exists()
    assert AccessAttempt.objects.filter(username=f"portal:c{owner.pk}").exists()
    # A minute later the owner asks for a new code, which signs in.
    PortalCode.objects.update(
        created_at=timezone.now()
        - timedelta(seconds=settings.PORTAL_CODE_INTERVAL_SECONDS + 1)
    )
    _ask(client)
    assert _enter(client, _deliver()).status_code == 302


def test_the_lock_out_ends_after_the_cool_off(owner):
    client = Client()
    _ask(client)
    code = _deliver()
    for _n in range(settings.LOGIN_FAILURE_LIMIT):
        _enter(client, "000000" if code != "000000" else "111111")
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(minutes=1)
    )
    PortalCode.objects.update(failed_attempts=0)
    assert _enter(client, code).status_code == 302


def test_wrong_codes_from_one_address_lock_the_address(owner, other_owner):
    """Guessing across many numbers from one address is stopped too."""
    client = Client()
    for n in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT):
        sign_in.portal_sign_in(
            phone=f"+86139{n:08d}",
            code="000000",
            remember=False,
            ip_address="127.0.0.1",
        )
    _ask(client, "13812349001")
    code = _deliver()
    assert _enter(client, code).status_code == 429


def test_a_remembered_device_keeps_its_cookie_for_30_days(owner):
    client = Client()
    _ask(client)
    _enter(client, _deliver(), remember=True)
    morsel = client.cookies[settings.PORTAL_SESSION_COOKIE]
    assert int(morsel["max-age"]) == settings.PORTAL_REMEMBER_DAYS * 24 * 3600
    assert morsel["path"] == settings.PORTAL_PATH


def test_without_remembering_the_cookie_ends_with_the_browser(owner):
    client = Client()
    _ask(client)
    _enter(client, _deliver())
    morsel = client.cookies[settings.PORTAL_SESSION_COOKIE]
    assert morsel["max-age"] == ""
    assert morsel["path"] == settings.PORTAL_PATH


def test_signing_in_gives_a_new_session_key(owner):
    client = Client()
    _ask(client)
    before = client.cookies[settings.PORTAL_SESSION_COOKIE].value
    _enter(client, _deliver())
    assert client.cookies[settings.PORTAL_SESSION_COOKIE].value != before


def test_a_bad_number_is_a_form_error_and_nothing_is_saved(db):
    response = _ask(Client(), "12345")
    assert response.status_code == 400
    assert response.context["form"].errors["mobile"]
    assert PortalCode.objects.count() == 0


def test_a_malformed_code_is_a_form_error_and_counts_nothing(owner):
    client = Client()
    _ask(client)
    response = _enter(client, "12ab")
    assert response.status_code == 400
    assert not AccessAttempt.objects.exists()


def test_the_code_page_without_a_number_goes_back_to_step_one(db):
    response = Client().get(reverse("portal:sign-in-code"))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:sign-in")


def test_sign_in_returns_to_the_page_asked_for(owner):
    client = Client()
    target = reverse("sales_portal:payments")
    first = client.get(target)
    assert (
        first["Location"]
        == f"{reverse('portal:sign-in')}?next=%2Fportal%2Fsales%2Fpayments%2F"
    )
    client.post(reverse("portal:sign-in"), {"mobile": "13812340001", "next": target})
    response = _enter(client, _deliver())
    assert response["Location"] == target


def test_sign_in_never_returns_outside_the_portal(owner):
    client = Client()
    client.post(
        reverse("portal:sign-in"),
        {"mobile": "13812340001", "next": "https://evil.example/"},
    )
    assert _enter(client, _deliver())["Location"] == reverse("portal:home")


@override_settings(SMS_BACKEND="crm_site.messaging.LogSmsBackend")
def test_with_the_log_backend_the_code_is_written_to_the_log(owner, caplog):
    client = Client()
    _ask(client)
    with caplog.at_level(logging.INFO, logger="anju.sms"):
        sign_in.portal_codes_send_pending()
    line = next(
        r.getMessage() for r in caplog.records if "sign-in code" in r.getMessage()
    )
    assert "138****0001" in line
    assert _enter(client, CODE.search(line).group(1)).status_code == 302


def test_a_merged_away_customer_cannot_sign_in(owner):
    other = CustomerFactory()
    client = Client()
    _ask(client)
    code = _deliver()
    from customers.models import Customer

    Customer.objects.filter(pk=owner.pk).update(merged_into=other)
    assert _enter(client, code).status_code == 400


def test_old_code_rows_and_expired_owner_sessions_are_pruned_twice_safely(owner):
    from crm_site import portal
    from crm_site.models import PortalSession
    from crm_site.tasks import portal_sessions_prune

    _ask(Client())
    PortalCode.objects.update(created_at=timezone.now() - timedelta(days=8))
    assert tasks.portal_codes_prune() == 1
    assert tasks.portal_codes_prune() == 0
    session = portal.session_for(owner)
    PortalSession.objects.filter(session_key=session.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    portal_sessions_prune()
    portal_sessions_prune()
    assert not PortalSession.objects.filter(session_key=session.session_key).exists()


def test_the_addresses_of_one_ipv6_network_share_one_limit(owner):
    """A subscriber line holds a whole /64: counted address by address, each of its
    2^64 addresses would have a limit of its own (crm_site.lockout.counted_address)."""
    for n in range(settings.PORTAL_CODES_PER_ADDRESS_HOUR):
        response = _ask(
            Client(), mobile=f"139{n:08d}", REMOTE_ADDR=f"2001:db8:0:7::{n + 1:x}"
        )
        assert response.status_code == 302  # on to the code's page
    response = _ask(Client(), REMOTE_ADDR="2001:db8:0:7:ffff::1")
    assert response.status_code == 429
    assert not PortalCode.objects.filter(customer=owner).exists()
    # Another network is counted apart.
    assert _ask(Client(), REMOTE_ADDR="2001:db8:0:8::1").status_code == 302
