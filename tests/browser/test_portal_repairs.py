"""An owner's repair from the owners' portal on a phone (390×844), worked at the desk:
the owner signs in with the code from the SMS log, reports a leak with a photo; an
agent accepts it (becoming its first receiver), hands it over, starts and resolves
it; the owner confirms the fix and rates it; then writes to the general manager."""

from __future__ import annotations

import struct
import zlib

import pytest
from playwright.sync_api import expect

from service.models import OwnerLetter, PortalNotice, ServiceRequest, SurveyResponse
from tests.browser.portal import phone_page, sign_in_owner
from tests.browser.test_customer_journey import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def photo_png(width: int = 160, height: int = 120) -> bytes:
    """A real picture for the thumbnail (a wet grey floor with a blue puddle), made
    without an imaging library: raw RGB rows, deflated, in PNG chunks."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b""
    for y in range(height):
        row = b"\x00"
        for x in range(width):
            inside = (x - 90) ** 2 / 45**2 + (y - 70) ** 2 / 28**2 < 1
            row += bytes((40, 110, 200) if inside else (170, 170, 165))
        rows += row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_an_owner_reports_a_repair_the_desk_fixes_it_and_the_owner_confirms_and_rates(
    browser,
    live_server,
    page,
    screenshot,
    settings,
    tmp_path,
    caplog,
    owner,
    owner_household,
    service_agent,
):
    settings.MEDIA_ROOT = tmp_path / "media"
    photo = tmp_path / "leak.png"
    photo.write_bytes(photo_png())

    context, phone, violations = phone_page(browser, live_server)
    sign_in_owner(phone, owner.mobile[3:], caplog)
    phone.goto("/portal/service/requests/")
    phone.get_by_test_id("new-request").click()
    form = phone.get_by_test_id("portal-request-form")
    form.locator("#id_category").select_option("plumbing")
    form.locator("#id_description").fill("卫生间地漏反水，地面有积水")
    form.locator("#id_photos").set_input_files(str(photo))
    phone.screenshot(path=str(_shot("portal-repair-form-zh-390")), full_page=True)
    form.locator("button[type=submit]").click()
    phone.wait_for_url("**/portal/service/requests/*/")
    request = ServiceRequest.objects.get()
    assert request.channel == "portal" and request.photos.count() == 1
    phone.screenshot(path=str(_shot("portal-repair-sent-zh-390")), full_page=True)

    # The desk: the request waits in the portal queue; the agent accepts and works it.
    login(page, "service_agent")
    page.goto("/service/requests/?view=portal")
    page.get_by_role("link", name=request.number).click()
    page.get_by_test_id("accept-button").click()
    expect(page.get_by_test_id("receiver")).to_contain_text(service_agent.display_name)
    screenshot("portal-request-accepted-zh-1280")
    assign = page.get_by_test_id("assign-form")
    assign.locator("#id_department").select_option("engineering")
    assign.locator("button[type=submit]").click()
    page.get_by_role("button", name="开始处理").click()
    resolve = page.get_by_test_id("resolve-form")
    resolve.locator("#id_note").fill("已疏通地漏并重做防水")
    resolve.locator("button[type=submit]").click()
    request.refresh_from_db()
    assert request.status == "resolved" and request.receiver == service_agent
    # Accepted, assigned, in progress, resolved: a message row each.
    assert PortalNotice.objects.filter(request=request).count() == 4

    # The owner confirms the fix and rates it.
    phone.goto(f"/portal/service/requests/{request.pk}/")
    expect(phone.get_by_test_id("portal-callback")).to_be_visible()
    phone.screenshot(path=str(_shot("portal-repair-resolved-zh-390")), full_page=True)
    phone.get_by_test_id("portal-confirm").click()
    rating = phone.get_by_test_id("portal-rating")
    expect(rating).to_be_visible()
    # A tired owner skips the first question: told so, nothing they gave is lost.
    groups = rating.locator(".portal-scale").all()
    for group in groups[1:]:
        group.locator("label").last.click()
    rating.locator("textarea").fill("师傅很专业，处理及时")
    phone.get_by_test_id("portal-rate").click()
    rating = phone.get_by_test_id("portal-rating")
    expect(rating.locator(".alert-danger")).to_be_visible()
    expect(rating.locator("textarea")).to_have_value("师傅很专业，处理及时")
    expect(rating.locator("input[type=radio]:checked")).to_have_count(len(groups) - 1)
    phone.screenshot(
        path=str(_shot("portal-repair-rating-refused-zh-390")), full_page=True
    )
    rating.locator(".portal-scale").first.locator("label").last.click()
    phone.screenshot(path=str(_shot("portal-repair-rating-zh-390")), full_page=True)
    phone.get_by_test_id("portal-rate").click()
    expect(phone.get_by_test_id("portal-rated")).to_be_visible()
    phone.screenshot(path=str(_shot("portal-repair-rated-zh-390")), full_page=True)
    request.refresh_from_db()
    assert request.status == "closed" and request.satisfied is True
    assert SurveyResponse.objects.get(invitation__request=request).index == 100

    # The GM mailbox: a letter from the same phone.
    phone.goto("/portal/service/letters/")
    phone.get_by_test_id("new-letter").click()
    letter_form = phone.get_by_test_id("portal-letter-form")
    letter_form.locator("#id_subject").fill("小区绿化")
    letter_form.locator("#id_body").fill("东侧绿化还没有完成，希望给个时间表。")
    letter_form.locator("button[type=submit]").click()
    expect(phone.get_by_test_id("portal-letter-waiting")).to_be_visible()
    phone.screenshot(path=str(_shot("portal-letter-sent-zh-390")), full_page=True)
    assert OwnerLetter.objects.get().customer == owner
    context.close()
    assert violations == [], violations


def _shot(name: str):
    """Where the screenshot helper keeps a picture of this name."""
    from tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
