"""Public codes and links are unguessable: random check-in codes, signed links with a
purpose (salt) each, and an age limit where the link does not end with its object."""

from __future__ import annotations

import pytest
from django.core import signing
from django.db import IntegrityError, transaction

from marketing import services
from marketing.codes import LENGTH, normalize_code
from marketing.models import CampaignMember
from marketing.services.invitations import (
    SIGNUP_SALT,
    UNSUBSCRIBE_SALT,
    invitation_from_token,
)
from service import handover, surveys
from tests.factories import CustomerFactory
from tests.marketing.conftest import (  # noqa: F401 (fixtures)
    building,
    campaign,
    outboxes,
    project,
    segment,
)


def test_member_codes_are_random_not_derived_from_the_member(
    campaign,  # noqa: F811
    marketer,
):
    CustomerFactory.create_batch(40)
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    members = list(CampaignMember.objects.filter(campaign=campaign).order_by("pk"))
    assert len(members) == 40
    codes = [m.code for m in members]
    assert len(set(codes)) == 40
    assert all(len(c) == LENGTH and normalize_code(c) == c for c in codes)
    # Neighbouring members share no structure: no common prefix across the batch,
    # and every hex digit turns up somewhere.
    assert len({c[:3] for c in codes}) > 30
    assert set("".join(codes)) == set("0123456789ABCDEF")


def test_a_code_is_unique_within_its_campaign(
    campaign,  # noqa: F811
    marketer,
):
    first = CampaignMember.objects.create(campaign=campaign, customer=CustomerFactory())
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignMember.objects.create(
            campaign=campaign, customer=CustomerFactory(), code=first.code
        )


def test_a_member_created_by_the_orm_gets_its_code_at_once(
    campaign,  # noqa: F811
):
    member = CampaignMember.objects.create(
        campaign=campaign, customer=CustomerFactory()
    )
    assert normalize_code(member.code) == member.code
    member.refresh_from_db()
    assert len(member.code) == LENGTH


def test_a_code_collision_skips_the_member_instead_of_failing_the_start(
    campaign,  # noqa: F811
    marketer,
):
    """With every draw colliding, the snapshot still commits what it could; the next
    snapshot (a normal draw) adds the members a collision skipped, nobody twice."""
    from django.db import connection

    from marketing.services.campaigns import members_snapshot

    CustomerFactory.create_batch(5)
    table = CampaignMember._meta.db_table
    with connection.cursor() as cursor:
        # (DDL inside the test's transaction needs the deferred FK checks done first.)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            f"ALTER TABLE {table} ALTER COLUMN code SET DEFAULT 'AAAAAAAAAAAA'"
        )
        services.campaign_move(actor=marketer, campaign=campaign, status="running")
        assert CampaignMember.objects.filter(campaign=campaign).count() == 1
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            f"ALTER TABLE {table} ALTER COLUMN code SET DEFAULT "
            "upper(left(replace(gen_random_uuid()::text, '-', ''), 12))"
        )
    added = members_snapshot(
        campaign=campaign, segment=campaign.segment, actor=marketer
    )
    assert added == 4
    assert CampaignMember.objects.filter(campaign=campaign).count() == 5
    assert (
        members_snapshot(campaign=campaign, segment=campaign.segment, actor=marketer)
        == 0
    )


def test_marketing_links_are_salted_per_purpose(
    campaign,  # noqa: F811
    marketer,
    outboxes,  # noqa: F811
):
    from marketing.models import Invitation
    from marketing.services.invitations import public_token

    CustomerFactory(consent_sms=True)
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    services.invitations_queue(actor=marketer, campaign=campaign)
    invitation = Invitation.objects.first()
    signup = public_token(invitation, SIGNUP_SALT)
    assert invitation_from_token(signup, SIGNUP_SALT) == invitation
    # A sign-up link is no unsubscribe link, and neither is forged from the id.
    assert invitation_from_token(signup, UNSUBSCRIBE_SALT) is None
    forged = signing.dumps({"i": invitation.pk}, salt=SIGNUP_SALT, key="guessed")
    assert invitation_from_token(forged, SIGNUP_SALT) is None


def test_survey_links_expire_and_booking_links_are_their_own_purpose(db):
    class Stub:
        pk = 7

    survey = surveys.survey_token(Stub())
    booking = handover.booking_token(Stub())
    assert survey != booking
    with pytest.raises(signing.BadSignature):
        signing.loads(booking, salt=surveys.LINK_SALT)
    with pytest.raises(signing.SignatureExpired):
        signing.loads(survey, salt=surveys.LINK_SALT, max_age=-1)
