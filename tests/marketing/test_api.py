"""Marketing's API: the running campaigns a website lists, and sign-ups from a
campaign's landing page (found by mobile, never a twin; consent as the page asks)."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

from crm_site.api.scopes import Scope
from crm_site.models import AuditEntry
from customers.models import ConsentRecord, Customer, Interaction
from marketing.models import Campaign, CampaignMember, Response
from marketing.selectors import latest_campaign_of
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow
from tests.marketing.conftest import make_campaign

CAMPAIGNS = "/api/v1/campaigns/"
WRITE = Scope.CAMPAIGNS_WRITE
READ = Scope.CAMPAIGNS_READ


def signups_url(campaign: Campaign) -> str:
    return f"{CAMPAIGNS}{campaign.pk}/sign-ups/"


def form(**fields) -> dict:
    return {"name": "林小姐", "mobile": "139 1234 0000", "consent": True, **fields}


def test_the_website_lists_running_campaigns_only(
    api_client, marketer, running, project
):
    make_campaign(marketer, project, name="还在筹备")  # planned
    client = api_client(marketer, READ, WRITE)
    response = client.get(CAMPAIGNS)
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["id"] == running.pk and row["status"] == "running"
    assert row["project"] == project.pk and row["project_name"] == project.name
    assert "budget" not in row
    assert client.get(f"{CAMPAIGNS}{running.pk}/").json() == row
    assert client.get(f"{CAMPAIGNS}999999/").status_code == 404


def test_a_sign_up_registers_a_new_person_with_consent_and_credits_the_campaign(
    api_client, marketer, running
):
    client = api_client(marketer, READ, WRITE)
    response = client.post(
        signups_url(running),
        form(utm_source="baidu", source="sem"),
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    customer = Customer.objects.get(mobile="+8613912340000")
    assert body["customer"] == customer.pk and body["registered"] is True
    assert body["created"] is True and body["code"]
    assert body["mobile"] == "139****0000"  # marketing sees numbers masked
    assert customer.name == "林小姐" and customer.source == Customer.Source.WEB
    assert customer.consent_sms and customer.consent_phone
    assert set(
        ConsentRecord.objects.filter(customer=customer).values_list("purpose", "method")
    ) == {("sms", "web"), ("phone", "web")}
    signup = Response.objects.get(pk=body["id"])
    assert signup.kind == "signup" and signup.campaign == running
    assert latest_campaign_of(customer=customer) == running.pk
    assert Interaction.objects.filter(customer=customer, kind="event").exists()
    entry = AuditEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Response), object_id=signup.pk
    )
    assert entry.actor == marketer
    assert entry.changes["utm_source"]["new"] == "baidu"


def test_a_sign_up_with_an_existing_mobile_creates_no_twin(
    api_client, marketer, running
):
    known = CustomerFactory(
        name="林晓", mobile="+8613912340000", consent_sms=False, consent_phone=False
    )
    count = Customer.objects.count()
    client = api_client(marketer, READ, WRITE)
    response = client.post(
        signups_url(running), form(mobile="+86 139-1234-0000"), format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["customer"] == known.pk
    assert response.json()["registered"] is False
    # The answer gives the name as typed, never the record's.
    assert response.json()["name"] == "林小姐"
    assert Customer.objects.count() == count
    known.refresh_from_db()
    assert known.name == "林晓"  # the record keeps its name
    # A ticked box typed by anyone does not opt a customer on record back in.
    assert not known.consent_phone and not known.consent_sms
    assert not ConsentRecord.objects.filter(customer=known).exists()
    # Signing up again returns the first sign-up.
    again = client.post(signups_url(running), form(), format="json")
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["id"] == response.json()["id"]
    assert Response.objects.filter(customer=known).count() == 1
    assert CampaignMember.objects.filter(customer=known).count() == 1


def test_an_unticked_consent_box_changes_no_consent(api_client, marketer, running):
    client = api_client(marketer, READ, WRITE)
    response = client.post(signups_url(running), form(consent=False), format="json")
    assert response.status_code == 201
    customer = Customer.objects.get(pk=response.json()["customer"])
    assert not customer.consent_sms and not customer.consent_phone
    assert not ConsentRecord.objects.filter(customer=customer).exists()


@pytest.mark.parametrize("state", ["planned", "finished", "cancelled"])
def test_a_campaign_that_is_not_running_refuses_with_a_409_and_saves_nothing(
    api_client, marketer, campaign, state
):
    if state != "planned":
        Campaign.objects.filter(pk=campaign.pk).update(status=state)
    client = api_client(marketer, READ, WRITE)
    count = Customer.objects.count()
    response = client.post(
        signups_url(campaign), form(), format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 409
    assert response.json()["detail"] == "The campaign is not running."
    assert Customer.objects.count() == count
    assert not Response.objects.exists()


def test_an_unknown_campaign_is_a_404(api_client, marketer):
    client = api_client(marketer, READ, WRITE)
    response = client.post(f"{CAMPAIGNS}999999/sign-ups/", form(), format="json")
    assert response.status_code == 404
    assert not Customer.objects.filter(mobile="+8613912340000").exists()


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"mobile": "12345"}, "mobile"),
        ({"mobile": "010 6552 9988"}, "mobile"),  # a landline
        ({"name": "  "}, "name"),
        ({"consent": "perhaps"}, "consent"),
        ({"consent": None}, "consent"),
    ],
)
def test_bad_input_is_a_422_problem_with_field_errors_and_saves_nothing(
    api_client, marketer, running, fields, field
):
    client = api_client(marketer, READ, WRITE)
    data = {k: v for k, v in (form() | fields).items() if v is not None}
    count = Customer.objects.count()
    response = client.post(signups_url(running), data, format="json")
    assert response.status_code == 422, response.json()
    assert field in [e["field"] for e in response.json()["errors"]]
    assert Customer.objects.count() == count
    assert not Response.objects.exists()


def test_sign_ups_need_the_scope_and_the_right_to_run_campaigns(
    api_client, marketer, consultant, running
):
    no_scope = api_client(marketer, Scope.CUSTOMERS_READ)
    assert no_scope.post(signups_url(running), form(), format="json").status_code == (
        403
    )
    assert no_scope.get(CAMPAIGNS).status_code == 403
    # A consultant does not run campaigns nor see marketing's lists.
    no_right = api_client(consultant, READ, WRITE)
    assert no_right.post(signups_url(running), form(), format="json").status_code == (
        403
    )
    assert no_right.get(signups_url(running)).status_code == 403
    assert no_right.get(CAMPAIGNS).status_code == 403
    assert not Response.objects.exists()


def test_the_sign_up_list_masks_numbers_and_its_query_count_does_not_grow(
    api_client, marketer, administrator, running
):
    client = api_client(marketer, READ, WRITE)
    client.post(signups_url(running), form(), format="json")
    listed = client.get(signups_url(running))
    assert listed.status_code == 200
    (row,) = listed.json()["results"]
    assert row["mobile"] == "139****0000" and row["name"] == "林小姐"
    full = api_client(administrator, READ, WRITE).get(signups_url(running)).json()
    assert full["results"][0]["mobile"] == "139 1234 0000"

    def grow():
        for n in range(3):
            client.post(
                signups_url(running),
                form(name=f"客人{n}", mobile=f"1370000000{n}"),
                format="json",
            )

    assert_queries_do_not_grow(
        lambda: client.get(signups_url(running)), grow, at_most=10
    )
    assert len(client.get(signups_url(running)).json()["results"]) == 4


def test_the_campaign_list_query_count_does_not_grow(
    api_client, marketer, running, project
):
    client = api_client(marketer, READ, WRITE)

    def grow():
        for n in range(3):
            more = make_campaign(marketer, project, name=f"活动{n}")
            Campaign.objects.filter(pk=more.pk).update(status="running")

    assert_queries_do_not_grow(lambda: client.get(CAMPAIGNS), grow, at_most=6)
    assert len(client.get(CAMPAIGNS).json()["results"]) == 4


def test_a_key_that_signs_people_up_does_not_read_the_sign_ups(
    api_client, marketer, running
):
    """A landing page's key: it signs people up; the list of who signed up (names,
    numbers, door codes) needs the read scope."""
    landing_page = api_client(marketer, WRITE)
    assert (
        landing_page.post(signups_url(running), form(), format="json").status_code
        == 201
    )
    assert landing_page.get(signups_url(running)).status_code == 403
    assert landing_page.get(CAMPAIGNS).status_code == 403
    reader = api_client(marketer, READ)
    assert reader.get(signups_url(running)).status_code == 200
    assert reader.post(signups_url(running), form(), format="json").status_code == 403


def test_a_running_campaign_past_its_end_date_is_finished_to_the_website(
    api_client, marketer, running
):
    from datetime import timedelta

    from django.utils import timezone

    today = timezone.localdate()
    Campaign.objects.filter(pk=running.pk).update(
        starts_on=today - timedelta(days=5), ends_on=today - timedelta(days=1)
    )
    client = api_client(marketer, READ, WRITE)
    assert client.get(CAMPAIGNS).json()["results"] == []
    assert client.get(f"{CAMPAIGNS}{running.pk}/").json()["status"] == "finished"
    count = Customer.objects.count()
    response = client.post(
        signups_url(running), form(), format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 409
    ended = (today - timedelta(days=1)).isoformat()
    assert response.json()["detail"] == (
        f"The campaign ended on {ended}: sign-ups are closed."
    )
    assert Customer.objects.count() == count
    assert not Response.objects.exists() and not CampaignMember.objects.exists()


def test_the_door_code_is_given_only_to_the_sign_up_that_made_the_guest(
    api_client, marketer, running
):
    """Whoever types a number into the landing page must not receive the code of a
    guest who signed up before, nor of one invited (their invitation carries it):
    the code checks that person in at the door."""
    client = api_client(marketer, READ, WRITE)
    first = client.post(signups_url(running), form(), format="json").json()
    assert first["code"]
    again = client.post(signups_url(running), form(name="别人"), format="json")
    assert again.status_code == 200 and again.json()["code"] is None
    invited = CustomerFactory(mobile="+8613912341111")
    CampaignMember.objects.create(campaign=running, customer=invited)
    response = client.post(
        signups_url(running), form(mobile="139 1234 1111"), format="json"
    )
    assert response.status_code == 201 and response.json()["code"] is None
