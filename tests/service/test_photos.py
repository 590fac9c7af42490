from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from service.models import RequestPhoto, ServiceRequest
from tests.service.conftest import closed_request

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def photo(name="leak.png", data=PNG, kind="image/png"):
    return SimpleUploadedFile(name, data, kind)


def test_photos_are_kept_on_the_request_and_served_as_images(
    client, service_agent, owner_customer
):
    request = closed_request(service_agent, owner_customer)
    client.force_login(service_agent)
    url = reverse("service:request-photos-add", args=[request.pk])
    response = client.post(
        url, {"photos": [photo(), photo("wall.jpg", kind="image/jpeg")]}
    )
    assert response.status_code == 302
    assert request.photos.count() == 2
    added = request.steps.get(event="service.photos_added")
    assert added.params == {"count": "2"} and added.note == ""
    first = request.photos.order_by("pk").first()
    shown = client.get(reverse("service:request-photo", args=[request.pk, first.pk]))
    assert shown["Content-Type"] == "image/png"
    assert "sandbox" in shown["Content-Security-Policy"]
    page = client.get(request.get_absolute_url()).content.decode()
    assert reverse("service:request-photo", args=[request.pk, first.pk]) in page


def test_a_page_disguised_as_a_photo_is_refused_and_nothing_is_saved(
    client, service_agent, owner_customer
):
    request = closed_request(service_agent, owner_customer)
    client.force_login(service_agent)
    url = reverse("service:request-photos-add", args=[request.pk])
    svg = photo("x.svg", b"<svg onload=alert(1)>", "image/svg+xml")
    response = client.post(url, {"photos": [photo(), svg]})
    assert response.status_code == 400
    assert "JPEG" in response.content.decode() or "照片" in response.content.decode()
    assert not RequestPhoto.objects.exists()


def test_only_the_service_desk_adds_or_sees_photos(
    client, service_agent, consultant, marketer, owner_customer
):
    request = closed_request(service_agent, owner_customer)
    client.force_login(service_agent)
    client.post(
        reverse("service:request-photos-add", args=[request.pk]), {"photos": [photo()]}
    )
    stored = RequestPhoto.objects.get()
    for user in (consultant, marketer):
        client.force_login(user)
        shown = client.get(
            reverse("service:request-photo", args=[request.pk, stored.pk])
        )
        assert shown.status_code == 403
        added = client.post(
            reverse("service:request-photos-add", args=[request.pk]),
            {"photos": [photo()]},
        )
        assert added.status_code == 403
    assert RequestPhoto.objects.count() == 1


def test_a_request_recorded_from_a_call_can_carry_photos(
    client, service_agent, owner_customer
):
    client.force_login(service_agent)
    response = client.post(
        reverse("service:request-create"),
        {
            "mobile": owner_customer.mobile,
            "kind": "complaint",
            "category": "plumbing",
            "severity": "normal",
            "channel": "phone",
            "description": "厨房水管漏水",
            "photos": [photo()],
        },
    )
    assert response.status_code == 302
    assert ServiceRequest.objects.get().photos.count() == 1
