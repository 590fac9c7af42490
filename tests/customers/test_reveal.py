from __future__ import annotations

from django.core.cache import cache
from django.urls import reverse

from crm_site.models import AuditEntry
from customers.views.customers import REVEALS_PER_HOUR


def reveal(customer):
    return reverse("customers:contact-reveal", args=[customer.pk])


def test_a_consultant_shows_a_pool_number_once_and_it_is_logged(
    client, consultant, pool_customer
):
    cache.clear()
    client.force_login(consultant)
    page = client.get(pool_customer.get_absolute_url()).content.decode()
    assert "137****7000" in page and reveal(pool_customer) in page
    response = client.post(reveal(pool_customer), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "137 0013 7000" in response.content.decode()
    entry = AuditEntry.objects.get(action="reveal")
    assert entry.actor == consultant and entry.object_id == pool_customer.pk
    # The page itself stays masked.
    assert (
        "137 0013 7000"
        not in client.get(pool_customer.get_absolute_url()).content.decode()
    )


def test_reveal_is_rate_limited(client, consultant, pool_customer):
    cache.clear()
    client.force_login(consultant)
    for _ in range(REVEALS_PER_HOUR):
        assert (
            client.post(reveal(pool_customer), HTTP_HX_REQUEST="true").status_code
            == 200
        )
    refused = client.post(reveal(pool_customer), HTTP_HX_REQUEST="true")
    assert refused.status_code == 429
    assert AuditEntry.objects.filter(action="reveal").count() == REVEALS_PER_HOUR


def test_reveal_needs_the_right_and_the_scope(
    client, marketer, consultant, pool_customer, others_customer
):
    cache.clear()
    client.force_login(marketer)
    assert client.post(reveal(pool_customer)).status_code == 403
    client.force_login(consultant)
    assert client.post(reveal(others_customer)).status_code == 404
    assert client.get(reveal(pool_customer)).status_code == 405
    assert not AuditEntry.objects.filter(action="reveal").exists()


def test_masking_in_every_place_a_number_appears(
    client, marketer, consultant, pool_customer
):
    """List, search, pool, detail and the change history, for a role without the right."""
    client.force_login(marketer)
    for url in (
        reverse("customers:customer-list"),
        reverse("customers:customer-list") + "?q=13700137000",
        pool_customer.get_absolute_url(),
    ):
        body = client.get(url).content.decode()
        assert "137****7000" in body and "137 0013 7000" not in body, url
    client.force_login(consultant)
    body = client.get(reverse("sales:pool")).content.decode()
    assert "137****7000" in body and "137 0013 7000" not in body


def test_searching_a_full_number_of_a_hidden_customer_says_it_exists_masked(
    client, consultant, others_customer
):
    client.force_login(consultant)
    response = client.get(reverse("customers:customer-list"), {"q": "139 0013 9000"})
    body = response.content.decode()
    assert response.context["page"].items == []
    assert 'data-testid="hidden-match"' in body and "139****9000" in body
    assert "赵六" not in body and "139 0013 9000" not in body.replace(
        'value="139 0013 9000"', ""
    )
