# ruff: noqa: F811  (the other_home fixture is imported, then used as an argument)
"""Repairs and the GM mailbox in the owners' portal (issue 14, items 4 and 7): the
owner's pages, each within their household (two owners, every URL); letters are their
writer's own, surveys follow the requests and homes the owner follows."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from service import mailbox, portal_requests, services
from service.models import (
    OwnerLetter,
    ServiceRequest,
    SurveyInvitation,
    SurveyResponse,
    SurveyTemplate,
)
from tests.helpers import assert_queries_do_not_grow
from tests.portal_fixtures import owner_client_for
from tests.security.test_portal_household_reach import (  # noqa: F401
    _request,
    other_home,
)
from tests.security.world import PNG
from tests.service.test_portal_handover import _handover


def png(name: str = "leak.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, content_type="image/png")


def household_of(owner_household) -> frozenset[int]:
    return frozenset({owner_household.buyer.pk, owner_household.co_buyer.pk})


@pytest.fixture
def reported(owner_household) -> ServiceRequest:
    request = portal_requests.portal_request_submit(
        owner=owner_household.buyer,
        household_ids=household_of(owner_household),
        unit=owner_household.unit,
        kind="repair",
        category="plumbing",
        description="卫生间漏水",
        photos=[png()],
    )
    return request


@pytest.fixture
def resolved(reported, service_agent) -> ServiceRequest:
    portal_requests.request_accept(actor=service_agent, request=reported)
    services.request_start(actor=service_agent, request=reported)
    services.request_resolve(actor=service_agent, request=reported, note="已修好")
    reported.refresh_from_db()
    return reported


@pytest.fixture
def letter(owner_household) -> OwnerLetter:
    return mailbox.letter_write(
        owner=owner_household.buyer,
        household_ids=household_of(owner_household),
        subject="车位问题",
        body="地库积水。",
    )


def test_the_owner_reports_a_repair_with_a_photo(owner_client, owner_household):
    page = owner_client.get(reverse("service_portal:request-create"))
    assert page.status_code == 200
    response = owner_client.post(
        reverse("service_portal:request-create"),
        {
            "unit": owner_household.unit.pk,
            "kind": "repair",
            "category": "plumbing",
            "description": "厨房水槽下漏水",
            "photos": [png()],
        },
    )
    request = ServiceRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "service_portal:request-detail", args=[request.pk]
    )
    assert request.channel == "portal" and request.photos.count() == 1
    assert request.customer == owner_household.buyer
    detail = owner_client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en")
    assert "waiting for the service desk" in detail.content.decode()
    listed = owner_client.get(reverse("service_portal:request-list"))
    assert request.number in listed.content.decode()


def test_a_bad_report_shows_its_errors_and_saves_nothing(
    owner_client, owner_household, other_owner_household
):
    url = reverse("service_portal:request-create")
    response = owner_client.post(
        url, {"unit": owner_household.unit.pk, "kind": "repair", "category": "plumbing"}
    )
    assert response.status_code == 400 and response.context["form"].errors
    theirs = owner_client.post(
        url,
        {
            "unit": other_owner_household.unit.pk,
            "kind": "repair",
            "category": "plumbing",
            "description": "漏水",
        },
    )
    assert theirs.status_code == 400 and "unit" in theirs.context["form"].errors
    svg = owner_client.post(
        url,
        {
            "unit": owner_household.unit.pk,
            "kind": "repair",
            "category": "plumbing",
            "description": "漏水",
            "photos": [SimpleUploadedFile("x.svg", b"<svg/>", "image/svg+xml")],
        },
    )
    assert svg.status_code == 400 and "photos" in svg.context["form"].errors
    assert not ServiceRequest.objects.exists()


def test_the_co_buyer_follows_the_households_request(owner_household, reported):
    client = owner_client_for(owner_household.co_buyer)
    page = client.get(reverse("service_portal:request-detail", args=[reported.pk]))
    assert page.status_code == 200
    photo = reported.photos.get()
    image = client.get(
        reverse("service_portal:request-photo", args=[reported.pk, photo.pk])
    )
    assert image.status_code == 200 and image["Content-Type"] == "image/png"


def test_another_household_reaches_none_of_it(other_owner_client, reported, letter):
    photo = reported.photos.get()
    gets = [
        reverse("service_portal:request-detail", args=[reported.pk]),
        reverse("service_portal:request-photo", args=[reported.pk, photo.pk]),
        reverse("service_portal:letter-detail", args=[letter.pk]),
    ]
    posts = [
        reverse(f"service_portal:request-{step}", args=[reported.pk])
        for step in ("confirm", "reject", "rate")
    ]
    for url in gets:
        assert other_owner_client.get(url).status_code == 404, url
    for url in posts:
        assert other_owner_client.post(url, {"note": "x"}).status_code == 404, url
    for name in ("service_portal:request-list", "service_portal:letter-list"):
        text = other_owner_client.get(reverse(name)).content.decode()
        assert reported.number not in text and letter.subject not in text


def test_a_staff_session_is_sent_to_the_owners_sign_in(client, service_agent, reported):
    client.force_login(service_agent)
    response = client.get(reverse("service_portal:request-detail", args=[reported.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:sign-in"))


def test_the_owner_confirms_the_fix_and_rates_it(owner_client, resolved):
    detail = reverse("service_portal:request-detail", args=[resolved.pk])
    page = owner_client.get(detail)
    assert b'data-testid="portal-callback"' in page.content
    owner_client.post(
        reverse("service_portal:request-confirm", args=[resolved.pk]), {"note": ""}
    )
    resolved.refresh_from_db()
    assert resolved.status == "closed"
    form = owner_client.get(detail).context["rating_form"]
    scores = {name: "4" for name in form.fields if name != "comment"}
    bad = owner_client.post(
        reverse("service_portal:request-rate", args=[resolved.pk]), {}
    )
    assert bad.status_code == 400 and not SurveyResponse.objects.exists()
    owner_client.post(
        reverse("service_portal:request-rate", args=[resolved.pk]),
        {**scores, "comment": "满意"},
    )
    response = SurveyResponse.objects.get()
    assert response.index == 75 and response.comment == "满意"
    assert b'data-testid="portal-rated"' in owner_client.get(detail).content


def test_the_owner_rejects_the_fix_and_it_reopens(owner_client, resolved):
    url = reverse("service_portal:request-reject", args=[resolved.pk])
    owner_client.post(url, {"note": ""})
    resolved.refresh_from_db()
    assert resolved.status == "resolved"  # a reason is needed
    owner_client.post(url, {"note": "还是漏水"})
    resolved.refresh_from_db()
    assert resolved.status == "in_progress" and resolved.reopen_count == 1
    page = owner_client.get(
        reverse("service_portal:request-detail", args=[resolved.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "Not solved yet" in page.content.decode()


def test_confirming_before_the_fix_changes_nothing(owner_client, reported):
    response = owner_client.post(
        reverse("service_portal:request-confirm", args=[reported.pk])
    )
    assert response.status_code == 302
    reported.refresh_from_db()
    assert reported.status == "received"


def test_the_owner_writes_to_the_general_manager_and_reads_the_answer(
    owner_client, owner_household, executive
):
    url = reverse("service_portal:letter-create")
    assert owner_client.get(url).status_code == 200
    bad = owner_client.post(url, {"subject": "", "body": ""})
    assert bad.status_code == 400 and not OwnerLetter.objects.exists()
    response = owner_client.post(
        url,
        {
            "subject": "绿化",
            "body": "东侧绿化何时完成？",
            "unit": owner_household.unit.pk,
        },
    )
    letter = OwnerLetter.objects.get()
    assert response["Location"] == reverse(
        "service_portal:letter-detail", args=[letter.pk]
    )
    page = owner_client.get(response["Location"])
    assert b'data-testid="portal-letter-waiting"' in page.content
    mailbox.letter_answer(actor=executive, letter=letter, answer="三月底前完成。")
    page = owner_client.get(response["Location"])
    assert "三月底前完成。" in page.content.decode()
    listed = owner_client.get(reverse("service_portal:letter-list")).content.decode()
    assert "绿化" in listed


def test_the_portal_shows_the_repairs_and_mailbox_sections(owner_client):
    home = owner_client.get(reverse("portal:home")).content.decode()
    assert reverse("service_portal:request-list") in home
    assert reverse("service_portal:letter-list") in home


@pytest.mark.parametrize(
    "name", ["service_portal:request-list", "service_portal:letter-list"]
)
def test_the_owners_lists_run_a_fixed_number_of_queries(
    owner_client, owner_household, name
):
    household = household_of(owner_household)

    def grow():
        for _ in range(3):
            portal_requests.portal_request_submit(
                owner=owner_household.buyer,
                household_ids=household,
                unit=owner_household.unit,
                kind="complaint",
                category="property_management",
                description="物业响应慢",
            )
            mailbox.letter_write(
                owner=owner_household.buyer,
                household_ids=household,
                subject="建议",
                body="增加快递柜。",
            )

    grow()
    url = reverse(name)
    assert_queries_do_not_grow(lambda: owner_client.get(url), grow, at_most=14)


def test_the_request_page_runs_a_fixed_number_of_queries(
    owner_client, resolved, service_agent
):
    url = reverse("service_portal:request-detail", args=[resolved.pk])

    def grow():
        services.photos_add(actor=service_agent, request=resolved, files=[png()])

    assert_queries_do_not_grow(lambda: owner_client.get(url), grow, at_most=16)


# A household member's other home: B co-owns the first home with A, and bought
# another with C (tests.security.test_portal_household_reach.other_home).


def test_a_letter_is_read_only_by_the_owner_who_wrote_it(
    owner_client, owner_household, other_home
):
    mine = mailbox.letter_write(
        owner=owner_household.buyer,
        household_ids=household_of(owner_household),
        subject="绿化",
        body="东侧绿化何时完成？",
    )
    co_buyers = mailbox.letter_write(
        owner=other_home.buyer,
        household_ids=frozenset({other_home.buyer.pk, other_home.partner.pk}),
        subject="新居门禁",
        body="新居门禁卡失灵。",
        unit=other_home.unit,
    )
    listed = owner_client.get(reverse("service_portal:letter-list"))
    assert [letter.pk for letter in listed.context["page"].items] == [mine.pk]
    assert co_buyers.subject not in listed.content.decode()
    detail = reverse("service_portal:letter-detail", args=[co_buyers.pk])
    assert owner_client.get(detail).status_code == 404
    # Nor does the co-buyer, who shares the first home, read the owner's letter.
    client = owner_client_for(other_home.buyer)
    listed = client.get(reverse("service_portal:letter-list"))
    assert [letter.pk for letter in listed.context["page"].items] == [co_buyers.pk]
    mine_url = reverse("service_portal:letter-detail", args=[mine.pk])
    assert client.get(mine_url).status_code == 404


def _sent(template, customer, **subject) -> SurveyInvitation:
    now = timezone.now()
    return SurveyInvitation.objects.create(
        template=template,
        customer=customer,
        due_at=now,
        status="sent",
        sent_at=now,
        **subject,
    )


def test_an_owner_sees_the_surveys_of_their_requests_and_homes_only(
    owner_client, owner_household, other_home, service_manager, consultant
):
    closed = SurveyTemplate.objects.create(name="回访", occasion="request_closed")
    handed = SurveyTemplate.objects.create(name="交房", occasion="handover")
    shared = _sent(
        closed,
        owner_household.co_buyer,
        request=_request(owner_household.co_buyer, owner_household.unit, "阳台漏水"),
    )
    own = _sent(
        closed,
        owner_household.buyer,
        request=_request(owner_household.buyer, None, "物业响应慢"),
    )
    elsewhere = _sent(
        closed,
        other_home.buyer,
        request=_request(other_home.buyer, other_home.unit, "新居门锁坏了"),
    )
    appointment, _slots = _handover(other_home, service_manager, consultant)
    other_handover = _sent(handed, other_home.buyer, appointment=appointment)

    listed = owner_client.get(reverse("service_portal:surveys"))
    assert {s["invitation"].pk for s in listed.context["surveys"]} == {
        shared.pk,
        own.pk,
    }
    # The co-buyer answers for both their homes; the partner for the second only.
    client = owner_client_for(other_home.buyer)
    listed = client.get(reverse("service_portal:surveys"))
    assert {s["invitation"].pk for s in listed.context["surveys"]} == {
        shared.pk,
        elsewhere.pk,
        other_handover.pk,
    }
    client = owner_client_for(other_home.partner)
    listed = client.get(reverse("service_portal:surveys"))
    assert {s["invitation"].pk for s in listed.context["surveys"]} == {
        elsewhere.pk,
        other_handover.pk,
    }
