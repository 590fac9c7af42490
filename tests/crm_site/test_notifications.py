from __future__ import annotations

import pytest
from django.urls import reverse

from crm_site.models import Notification
from crm_site.notifications import notify
from tests.helpers import assert_queries_do_not_grow


def test_bell_shows_the_unread_count(client, consultant):
    notify(user=consultant, message="单元 101 的保留已到期", url="/sales/")
    notify(user=consultant, message="第二条")
    client.force_login(consultant)
    body = client.get(reverse("home"), follow=True).content.decode()
    assert 'data-testid="notification-bell"' in body
    assert ">2</span>" in body


def test_opening_a_notification_marks_it_read_and_follows_its_link(client, consultant):
    note = notify(user=consultant, message="x", url="/sales/")
    client.force_login(consultant)
    response = client.post(reverse("notification-open", args=[note.pk]))
    assert response.status_code == 302 and response.url == "/sales/"
    note.refresh_from_db()
    assert note.read_at is not None


def test_a_notification_with_an_outside_link_does_not_redirect_there(
    client, consultant
):
    note = notify(user=consultant, message="x", url="https://evil.example.com/")
    client.force_login(consultant)
    response = client.post(reverse("notification-open", args=[note.pk]))
    assert response.url == reverse("notifications")


def test_others_notifications_are_404(client, consultant, other_consultant):
    note = notify(user=other_consultant, message="x")
    client.force_login(consultant)
    assert client.post(reverse("notification-open", args=[note.pk])).status_code == 404
    assert client.get(reverse("notifications")).context["page"].items == []


def test_mark_all_read(client, consultant):
    for n in range(3):
        notify(user=consultant, message=str(n))
    client.force_login(consultant)
    client.post(reverse("notifications-read-all"))
    assert not Notification.objects.filter(read_at__isnull=True).exists()


def test_notification_list_query_count_does_not_grow(client, consultant):
    client.force_login(consultant)
    assert_queries_do_not_grow(
        lambda: client.get(reverse("notifications")),
        lambda: [notify(user=consultant, message=str(n)) for n in range(15)],
        at_most=7,
    )


@pytest.mark.django_db
def test_a_notification_links_to_a_customer_only_for_who_may_open_it(consultant):
    from crm_site.notifications import notify
    from crm_site.roles import Role
    from tests.factories import CustomerFactory, UserFactory

    customer = CustomerFactory()
    broker = UserFactory(role=Role.CHANNEL_PARTNER)
    assert notify(user=consultant, message="x", target=customer).url
    assert notify(user=broker, message="x", target=customer).url == ""
