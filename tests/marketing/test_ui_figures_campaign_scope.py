"""A campaign's figures count the whole campaign (its cost and return are the
campaign's, whoever reads them), while its lists name only the customers the reader
may see: the page says how many of those counted are not listed, so the figures and
the lists agree for the reader."""

from __future__ import annotations

from django.urls import reverse

from customers.models import Customer
from marketing import selectors
from marketing.models import CampaignMember, Response
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow
from tests.marketing import test_campaign_scope as scope

# The campaign scope's own fixture and names: one member marketing may see, one it
# may not.
started_by_admin = scope.started_by_admin
SEEN, HIDDEN = scope.SEEN, scope.HIDDEN

EN = {"accept-language": "en"}


def _section(html: str, testid: str) -> str:
    return html.split(f'data-testid="{testid}"')[1].split("</div>")[0]


def test_campaign_returns_for_a_reader_counts_whom_they_may_not_see(
    marketer, started_by_admin, django_assert_num_queries
):
    # The reader's permissions and roles are read once a request (the page has them
    # already): the figures themselves stay four grouped queries.
    Customer.objects.visible_to(marketer)
    with django_assert_num_queries(4):
        figures = selectors.campaign_returns(
            campaign_ids=[started_by_admin.pk], user=marketer
        )[started_by_admin.pk]
    assert (figures.members, figures.hidden_members) == (2, 1)
    assert (figures.responses, figures.hidden_responses) == (2, 1)
    assert figures.hidden_deals == 1


def test_campaign_returns_hide_no_one_from_an_administrator(
    administrator, started_by_admin
):
    figures = selectors.campaign_returns(
        campaign_ids=[started_by_admin.pk], user=administrator
    )[started_by_admin.pk]
    assert figures.members == 2
    assert (figures.hidden_members, figures.hidden_responses) == (0, 0)
    assert figures.hidden_deals == 0


def test_campaign_page_keeps_the_totals_and_says_how_many_are_not_listed(
    client, marketer, started_by_admin
):
    client.force_login(marketer)
    page = client.get(
        reverse("marketing:campaign-detail", args=[started_by_admin.pk]), headers=EN
    )
    html = page.content.decode()
    assert page.context["figures"].members == 2
    assert "1 of the 2 members is outside your view" in _section(
        html, "figures-out-of-view"
    )
    assert "1 more respondent is outside your view" in _section(
        html, "responses-out-of-view"
    )
    assert "1 more deal is of a customer outside your view" in _section(
        html, "deals-out-of-view"
    )
    assert HIDDEN not in html


def test_campaign_page_says_nothing_is_hidden_when_nothing_is(
    client, administrator, started_by_admin
):
    client.force_login(administrator)
    page = client.get(
        reverse("marketing:campaign-detail", args=[started_by_admin.pk]), headers=EN
    )
    html = page.content.decode()
    assert "out-of-view" not in html
    assert SEEN in html and HIDDEN in html


def test_members_page_says_how_many_members_it_does_not_list(
    client, marketer, started_by_admin
):
    client.force_login(marketer)
    page = client.get(
        reverse("marketing:campaign-members", args=[started_by_admin.pk]), headers=EN
    )
    html = page.content.decode()
    assert SEEN in html and HIDDEN not in html
    note = _section(html, "members-out-of-view")
    assert "2 members" in note and "1 of them is outside your view" in note


def test_members_page_has_no_note_for_an_administrator(
    client, administrator, started_by_admin
):
    client.force_login(administrator)
    page = client.get(
        reverse("marketing:campaign-members", args=[started_by_admin.pk]), headers=EN
    )
    assert "members-out-of-view" not in page.content.decode()


def test_campaign_pages_with_out_of_view_notes_keep_their_query_count(
    client, marketer, started_by_admin
):
    client.force_login(marketer)

    def more():
        for consented in (True, False, True, False):
            member = CampaignMember.objects.create(
                campaign=started_by_admin,
                customer=CustomerFactory(consent_sms=consented),
            )
            Response.objects.create(
                campaign=started_by_admin,
                member=member,
                customer=member.customer,
                kind=Response.Kind.SIGNUP,
            )

    for name in ("marketing:campaign-detail", "marketing:campaign-members"):
        url = reverse(name, args=[started_by_admin.pk])
        assert_queries_do_not_grow(lambda url=url: client.get(url), more, at_most=16)
