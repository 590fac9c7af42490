"""Log-in throttling: per username and per address, the right password refused while
locked, audited, unlocked by an administrator, with a clear message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import ngettext

from crm_site.lockout import login_unlock
from crm_site.models import AuditEntry
from tests.conftest import PASSWORD
from tests.factories import UserFactory

LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 20


def attempt(client: Client, username: str, password: str, address="10.0.0.1"):
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def fail(client: Client, username: str, times: int, address="10.0.0.1") -> None:
    for _ in range(times):
        attempt(client, username, "wrong-password", address)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_thirty_wrong_passwords_then_the_right_one_does_not_log_in(client, consultant):
    fail(client, "consultant", 30)
    response = attempt(client, "consultant", PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)


def test_the_account_locks_after_the_limit_per_username_from_any_address(
    client, consultant
):
    fail(client, "consultant", 4, address="10.0.0.1")
    # Four failures leave the account open.
    assert attempt(client, "consultant", PASSWORD).status_code == 302
    client.post(reverse("logout"))
    # The success reset the count; five more from several addresses lock it.
    for i in range(5):
        fail(client, "consultant", 1, address=f"10.0.1.{i}")
    response = attempt(client, "consultant", PASSWORD, address="10.0.2.2")
    assert response.status_code == 429 and not logged_in(client)


def test_other_accounts_stay_open_while_one_is_locked(
    client, consultant, other_consultant
):
    for i in range(5):
        fail(client, "consultant", 1, address=f"10.0.1.{i}")
    assert attempt(client, "consultant2", PASSWORD, "10.0.3.3").status_code == 302


def test_an_address_locks_after_its_own_higher_limit(client, consultant):
    # Twenty failures spread over names that exist nowhere lock the address...
    for i in range(19):
        fail(client, f"nobody{i}", 1, address="10.9.9.9")
    assert attempt(client, "consultant", PASSWORD, "10.9.9.9").status_code == 302
    client.post(reverse("logout"))
    fail(client, "nobody-last", 1, address="10.9.9.9")
    # ... for every account, the right password included...
    response = attempt(client, "consultant", PASSWORD, "10.9.9.9")
    assert response.status_code == 429 and not logged_in(client)
    # ... while the same account still logs in from elsewhere.
    assert attempt(client, "consultant", PASSWORD, "10.8.8.8").status_code == 302


def test_the_lock_out_ends_after_the_cool_off(client, consultant, settings):
    fail(client, "consultant", 5)
    assert attempt(client, "consultant", PASSWORD).status_code == 429
    AccessAttempt.objects.update(
        attempt_time=timezone.now()
        - timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES + 1)
    )
    assert attempt(client, "consultant", PASSWORD).status_code == 302


def test_locked_page_says_so_in_chinese_and_for_how_long(client, consultant):
    fail(client, "consultant", 5)
    response = attempt(client, "consultant", PASSWORD)
    body = response.content.decode()
    assert 'data-testid="login-locked"' in body
    # The message in Simplified Chinese (the default language), minutes included.
    with translation.override("zh-hans"):
        expected = ngettext(
            "This account is locked after too many failed log-ins. Try again in "
            "%(minutes)s minute, or ask an administrator to unlock it.",
            "This account is locked after too many failed log-ins. Try again in "
            "%(minutes)s minutes, or ask an administrator to unlock it.",
            15,
        ) % {"minutes": 15}
    assert expected in body
    # The form is shown again with the username, never the password.
    assert 'value="consultant"' in body and PASSWORD not in body


def test_locked_page_is_english_when_switched(client, consultant):
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    fail(client, "consultant", 5)
    body = attempt(client, "consultant", PASSWORD).content.decode()
    assert "This account is locked" in body and "15 minutes" in body
    assert "administrator" in body


def test_each_lock_out_is_audited_once_on_the_user(client, consultant):
    fail(client, "consultant", 12)
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.LOCK_OUT)
    assert entries.count() == 1
    entry = entries.get()
    assert entry.object_id == consultant.pk
    assert entry.changes["username"]["new"] == "consultant"
    assert entry.changes["ip_address"]["new"] == "10.0.0.1"


def test_an_address_lock_out_on_unknown_names_is_audited_on_the_attempt(client, db):
    for i in range(20):
        fail(client, f"nobody{i}", 1, address="10.7.7.7")
    entry = AuditEntry.objects.get(action=AuditEntry.Action.LOCK_OUT)
    assert entry.content_type.model == "accessattempt"
    assert entry.changes["ip_address"]["new"] == "10.7.7.7"


def test_administrator_unlocks_a_user_from_the_admin_and_it_is_audited(
    client, consultant, administrator
):
    fail(client, "consultant", 5)
    assert attempt(client, "consultant", PASSWORD).status_code == 429
    admin = Client()
    admin.force_login(administrator)
    response = admin.post(
        reverse("admin:crm_site_user_changelist"),
        {"action": "unlock_login", "_selected_action": [consultant.pk]},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="consultant").exists()
    entry = AuditEntry.objects.get(action=AuditEntry.Action.UNLOCK)
    assert entry.actor == administrator and entry.object_id == consultant.pk
    assert attempt(client, "consultant", PASSWORD).status_code == 302


def test_administrator_unlocks_an_address_from_the_attempt_list(
    client, consultant, administrator
):
    for i in range(20):
        fail(client, f"nobody{i}", 1, address="10.6.6.6")
    admin = Client()
    admin.force_login(administrator)
    listing = admin.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200
    response = admin.post(
        reverse("admin:axes_accessattempt_changelist"),
        {
            "action": "unlock",
            "_selected_action": list(
                AccessAttempt.objects.values_list("pk", flat=True)
            ),
        },
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert AuditEntry.objects.filter(action=AuditEntry.Action.UNLOCK).count() == 20
    assert attempt(client, "consultant", PASSWORD, "10.6.6.6").status_code == 302


def test_deleting_an_attempt_in_the_admin_is_an_audited_unlock(
    client, consultant, administrator
):
    fail(client, "consultant", 5)
    row = AccessAttempt.objects.get()
    admin = Client()
    admin.force_login(administrator)
    admin.post(
        reverse("admin:axes_accessattempt_delete", args=[row.pk]), {"post": "yes"}
    )
    assert not AccessAttempt.objects.exists()
    assert AuditEntry.objects.filter(
        action=AuditEntry.Action.UNLOCK, actor=administrator
    ).exists()


def test_non_administrators_cannot_unlock(client, consultant, sales_manager):
    fail(client, "consultant", 5)
    manager = Client()
    manager.force_login(sales_manager)
    response = manager.get(reverse("admin:axes_accessattempt_changelist"))
    assert response.status_code in (302, 403)
    assert AccessAttempt.objects.exists()


def test_login_unlock_with_nothing_to_unlock_writes_nothing(administrator):
    assert login_unlock(actor=administrator, username="nobody") == 0
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.UNLOCK).exists()


def test_authenticate_needs_the_request_and_counts_failures(consultant):
    request = RequestFactory().post(LOGIN, REMOTE_ADDR="10.5.5.5")
    assert authenticate(request, username="consultant", password="x") is None
    assert AccessAttempt.objects.get().failures_since_start == 1
    user = authenticate(request, username="consultant", password=PASSWORD)
    assert user == consultant


def test_a_new_user_logs_in_after_a_colleague_locked_their_own_account(client, db):
    UserFactory(username="fresh", password=PASSWORD)
    UserFactory(username="clumsy", password=PASSWORD)
    fail(client, "clumsy", 5, address="10.4.4.4")
    assert attempt(client, "fresh", PASSWORD, "10.4.4.4").status_code == 302


def test_an_address_is_counted_by_its_ipv6_network_and_ipv4_as_it_is():
    from crm_site.lockout import counted_address

    assert counted_address("2001:db8:0:7:1234:5678:9abc:def0") == "2001:db8:0:7::"
    assert counted_address("::ffff:10.1.2.3") == "10.1.2.3"
    assert counted_address("10.1.2.3") == "10.1.2.3"
    assert counted_address("not an address") == "not an address"
    assert counted_address(None) is None
