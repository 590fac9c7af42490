"""Bad input posted as multipart/form-data (what a browser sends for a form with
enctype="multipart/form-data", and what the test client sends by default): the
InputGuard middleware checks form-encoded bodies only, so views that take text read
it through a form, which refuses a NUL byte (PostgreSQL cannot store one)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm_site.models import ExplorerView
from customers.models import AgentExtension, Call, Interaction
from customers.services import telephony as call_services
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ringing(service_agent):
    AgentExtension.objects.create(extension="8001", user=service_agent)
    CustomerFactory(mobile="+8613512345678")
    call_services.call_event(
        event="ringing", call_id="c-1", caller="13512345678", extension="8001"
    )
    return Call.objects.get()


@pytest.mark.parametrize("note", ["交房\x00时间", "长" * 2001], ids=["nul", "long"])
def test_a_screen_pop_note_no_browser_sends_is_refused_and_nothing_logged(
    client, service_agent, ringing, note
):
    client.force_login(service_agent)
    response = client.post(
        reverse("customers:screen-pop-log", args=[ringing.pk]), {"note": note}
    )
    assert response.status_code == 400
    ringing.refresh_from_db()
    assert ringing.note == ""
    assert not Interaction.objects.exists()


def test_a_screen_pop_note_is_kept_with_the_call(client, service_agent, ringing):
    client.force_login(service_agent)
    response = client.post(
        reverse("customers:screen-pop-log", args=[ringing.pk]), {"note": " 问交房 "}
    )
    assert response.status_code == 200
    ringing.refresh_from_db()
    assert ringing.note == "问交房"


VIEW = {"source": "sales.deals", "measure": "deals", "dim": "stage"}


def test_a_saved_view_keeps_only_the_parameters_the_explorer_reads(
    client, sales_manager
):
    client.force_login(sales_manager)
    response = client.post(
        reverse("explorer-view-save"),
        {**VIEW, "name": "每周成交", "note": "a\x00b", "f.stage": "lost"},
    )
    assert response.status_code == 302
    view = ExplorerView.objects.get()
    assert view.params == {
        "source": ["sales.deals"],
        "measure": ["deals"],
        "dim": ["stage"],
        "f.stage": ["lost"],
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "每周\x00成交"},
        {"name": "周" * 101},
        {"name": "每周成交", "f.stage": "lo\x00st"},
        {"name": "每周成交", "dim": "sta\x00ge"},
    ],
)
def test_a_saved_view_with_a_nul_byte_or_a_long_name_is_refused(
    client, sales_manager, bad
):
    client.force_login(sales_manager)
    response = client.post(reverse("explorer-view-save"), {**VIEW, **bad})
    assert response.status_code == 400
    assert response.context["save_errors"]["name"]
    assert not ExplorerView.objects.exists()
