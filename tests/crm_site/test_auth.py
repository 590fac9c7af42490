from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD


def test_login_page_is_chinese_by_default(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert '<html lang="zh-hans">' in response.content.decode()
    assert "登录" in response.content.decode()


def test_login_and_logout(client, consultant):
    response = client.post(
        reverse("login"), {"username": "consultant", "password": PASSWORD}
    )
    assert response.status_code == 302 and response.url == reverse("home")
    assert client.get(reverse("home"), follow=True).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


def test_wrong_password_is_refused_with_a_message(client, consultant):
    response = client.post(
        reverse("login"), {"username": "consultant", "password": "nope"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors


def test_language_switch_to_english_and_back_from_any_page(client, consultant):
    client.force_login(consultant)
    client.post(
        reverse("set_language"),
        {"language": "en", "next": reverse("customers:customer-list")},
    )
    body = client.get(reverse("customers:customer-list")).content.decode()
    assert '<html lang="en">' in body and "New customer" in body
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert "新建客户" in client.get(reverse("customers:customer-list")).content.decode()


def test_language_switch_works_before_login(client, db):
    response = client.post(
        reverse("set_language"), {"language": "en", "next": reverse("login")}
    )
    assert response.status_code == 302
    assert "Log in" in client.get(reverse("login")).content.decode()


def test_password_change(client, consultant):
    client.force_login(consultant)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "An0ther-secret!",
            "new_password2": "An0ther-secret!",
        },
    )
    assert response.status_code == 302
    consultant.refresh_from_db()
    assert consultant.check_password("An0ther-secret!")


def test_password_change_refuses_a_wrong_old_password(client, consultant):
    client.force_login(consultant)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "wrong",
            "new_password1": "An0ther-secret!",
            "new_password2": "An0ther-secret!",
        },
    )
    assert response.status_code == 200
    consultant.refresh_from_db()
    assert consultant.check_password(PASSWORD)


@pytest.mark.django_db
def test_audit_entries_show_yes_and_no_for_flags(consultant):
    from django.contrib.contenttypes.models import ContentType
    from django.utils import translation

    from crm_site.models import AuditEntry
    from customers.models import Customer

    entry = AuditEntry(
        actor=consultant,
        action="update",
        content_type=ContentType.objects.get_for_model(Customer),
        object_id=1,
        changes={"consent_sms": {"old": "False", "new": "True"}},
    )
    with translation.override("zh-hans"):
        assert entry.readable_changes() == [("短信营销", "否", "是")]


def test_audit_keys_that_are_not_fields_are_named_in_the_readers_language(db):
    """A key that is no field of the model (who chose a unit on the phone) has its
    label; one that has none is what the suite's guard refuses."""
    from django.contrib.contenttypes.models import ContentType
    from django.utils import translation

    from crm_site.models import AuditEntry
    from sales.models import Selection

    entry = AuditEntry(
        action="create",
        content_type=ContentType.objects.get_for_model(Selection),
        object_id=1,
        changes={
            "chosen_by": {"old": "", "new": "王芳 (#7)"},
            "channel": {"old": "", "new": "online"},
            "made_up": {"old": "", "new": "x"},
        },
    )
    assert entry.unnamed_keys() == ["made_up"]
    with translation.override("zh-hans"):
        assert entry.readable_changes()[:2] == [
            ("选房人", "", "王芳 (#7)"),
            ("渠道", "", "线上"),
        ]


def test_the_signed_in_user_comes_from_the_cache_yet_a_deactivation_applies_at_once(
    client, consultant
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(consultant)
    notifications = reverse("notifications")
    assert client.get(notifications).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(notifications).status_code == 200
    assert not [q for q in ctx.captured_queries if "crm_site_user" in q["sql"]]
    consultant.is_active = False
    consultant.save()
    assert client.get(notifications).status_code == 302


def test_a_new_password_signs_out_other_sessions_though_users_are_cached(
    client, consultant
):
    client.force_login(consultant)
    notifications = reverse("notifications")
    assert client.get(notifications).status_code == 200
    consultant.set_password("another-pass-2026")
    consultant.save()
    assert client.get(notifications).status_code == 302


def _hasher_runs(client, username: str, password: str) -> int:
    """How often a sign-in through the login page runs the password hasher (its
    encode or verify, the slow part; a verify that encodes counts once)."""
    from unittest import mock

    from django.contrib.auth.hashers import get_hasher

    hasher = type(get_hasher())
    runs = mock.Mock()
    inside = []

    def counted(method):
        def run(self, *args, **kwargs):
            if not inside:
                runs(method.__name__)
            inside.append(method)
            try:
                return method(self, *args, **kwargs)
            finally:
                inside.pop()

        return run

    with (
        mock.patch.object(hasher, "encode", counted(hasher.encode)),
        mock.patch.object(hasher, "verify", counted(hasher.verify)),
    ):
        response = client.post(
            reverse("login"), {"username": username, "password": password}
        )
    assert response.status_code == 200 and response.context["form"].errors
    return runs.call_count


def test_a_wrong_sign_in_runs_the_hasher_for_unknown_and_known_names_alike(
    client, consultant
):
    """No timing oracle on the login page: a name that is nobody's costs the hasher
    as much as a known one with a wrong password, an inactive one or one without a
    usable password (a user imported or created without one)."""
    from tests.conftest import UserFactory

    left = UserFactory(username="left", is_active=False)
    imported = UserFactory(username="imported")
    imported.set_unusable_password()
    imported.save()
    known = _hasher_runs(client, "consultant", "wrong-pass-2026")
    assert known == 1
    assert _hasher_runs(client, "nobody-by-that-name", "wrong-pass-2026") == known
    assert _hasher_runs(client, left.username, PASSWORD) == known
    assert _hasher_runs(client, imported.username, "wrong-pass-2026") == known
