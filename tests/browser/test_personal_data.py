"""An administrator answers a customer's personal-information request in the browser:
opens it from the customer page, downloads the export, anonymises with the typed
confirmation."""

from __future__ import annotations

import zipfile

import pytest

from customers.models import Customer, PersonalDataRequest
from tests.browser.test_customer_journey import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_administrator_exports_then_anonymises_a_customer(
    page, screenshot, administrator, own_customer, tmp_path
):
    login(page, "admin")
    page.goto(own_customer.get_absolute_url())
    page.get_by_test_id("personal-data-link").click()
    page.wait_for_url("**/personal-data/")
    assert page.get_by_test_id("personal-data-counts").locator("tr").count() > 20
    screenshot("pipl-01-request-page")

    export = page.get_by_test_id("personal-data-export")
    export.locator("#id_reference").fill("PIPL-2026-007")
    export.locator("#id_reason").fill("客户来电，要求获取个人信息副本")
    with page.expect_download() as download:
        export.locator("button[type=submit]").click()
    path = tmp_path / "export.zip"
    download.value.save_as(path)
    assert len(zipfile.ZipFile(path).namelist()) == 2

    page.reload()
    form = page.get_by_test_id("personal-data-anonymise")
    form.locator("#id_reference").fill("PIPL-2026-008")
    form.locator("#id_reason").fill("客户书面要求删除")
    form.locator("#id_confirm").fill("张三")
    form.locator("button[type=submit]").click()
    page.get_by_test_id("anonymised").wait_for()
    screenshot("pipl-02-anonymised")

    own_customer.refresh_from_db()
    assert own_customer.anonymised_at is not None and own_customer.mobile is None
    assert list(
        PersonalDataRequest.objects.order_by("pk").values_list("kind", flat=True)
    ) == ["export", "anonymise"]
    assert not Customer.objects.filter(name="张三").exists()
