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
