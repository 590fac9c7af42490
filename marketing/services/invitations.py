"""Invitations: an outbox row per member and channel, sent by a Celery job.

Queueing writes the rows in one INSERT ... SELECT per channel (only members who
consented to that channel and have an address). Sending is crm_site.outbox's: rows are
claimed in small batches (FOR UPDATE SKIP LOCKED), consent is checked again when the
message is composed, the provider gets the row's idempotency key, and a row a crashed
sender left 'sending' is checked with the provider (sent, queued again, or parked for
review), never sent again blindly. A sender run sends at most one rate-limit batch.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm_site import outbox
from crm_site.models import User
from customers.models import ConsentRecord, Customer, Interaction
from customers.services import consent_set, interaction_log
from marketing import events as marketing_events
from marketing.models import Campaign, CampaignMember, Invitation
from marketing.models.campaigns import campaign_today

UNSUBSCRIBE_SALT = "marketing.unsubscribe"
SIGNUP_SALT = "marketing.signup"
CHANNEL_CONSENT = {
    Invitation.Channel.EMAIL: ("consent_email", "email"),
    Invitation.Channel.SMS: ("consent_sms", "mobile"),
}


class InvitationsRefused(Exception):
    pass


def invitations_queue(*, actor: User, campaign: Campaign) -> int:
    """Write the outbox rows for a running campaign and queue the sender. Repeating
    it adds only members who had none (and nobody twice)."""
    from marketing import tasks

    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status != Campaign.Status.RUNNING:
            raise InvitationsRefused(_("Start the campaign before sending."))
        if campaign.ends_on < campaign_today():
            raise InvitationsRefused(
                _("The campaign ended on %(day)s: invitations are no longer sent.")
                % {"day": campaign.ends_on.isoformat()}
            )
        if not campaign.channels:
            raise InvitationsRefused(_("The campaign invites on no channel."))
        added = sum(_queue_channel(campaign, channel) for channel in campaign.channels)
        tasks.invitations_send.delay_on_commit(campaign.pk)
    return added


def recipients(channel: str) -> Q:
    """The campaign members a send reaches on a channel: consented to it, with an
    address, not invited on it yet. The send queues exactly these, and the
    confirmation before it counts them (marketing.selectors.invitations_preview)."""
    consent_field, address_field = CHANNEL_CONSENT[channel]
    return (
        Q(**{f"customer__{consent_field}": True})
        & ~Q(**{f"customer__{address_field}": ""})
        & Q(~Exists(Invitation.objects.filter(member=OuterRef("pk"), channel=channel)))
    )


def _queue_channel(campaign: Campaign, channel: str) -> int:
    now = timezone.now()
    members = CampaignMember.objects.filter(recipients(channel), campaign=campaign)
    select_sql, params = members.values("pk").query.sql_with_params()
    table = connection.ops.quote_name(Invitation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, member_id, channel, status, "
            "created_at, next_attempt_at, attempts, idempotency_key, message_id, error) "
            f"SELECT %s, picked.pk, %s, %s, %s, %s, 0, gen_random_uuid(), '', '' "
            f"FROM ({select_sql}) AS picked (pk) "
            "ON CONFLICT (member_id, channel) DO NOTHING",
            [
                campaign.pk,
                channel,
                Invitation.Status.PENDING,
                now,
                now,
                *params,
            ],
        )
        return cursor.rowcount


class InvitationKind(outbox.OutboxKind):
    name = "marketing.invitation"
    label = gettext_lazy("Campaign invitations")
    model = Invitation

    def rows(self):
        return Invitation.objects.select_related("campaign", "member__customer")

    def ready(self, now: datetime) -> Q:
        # An ended campaign's rows are withdrawn; a paused one's wait. Nobody is
        # invited after the campaign's last day (inclusive, in local time).
        return Q(
            campaign__status=Campaign.Status.RUNNING,
            campaign__ends_on__gte=campaign_today(now),
        )

    def compose(self, row: Invitation) -> outbox.Message | None:
        """The message, unless the member withdrew consent (or their address) since
        the row was queued, or their record was merged away or anonymised (a merge
        keeps the absorbed record's membership where the survivor has one: the
        person hears from the survivor's). A row claimed before its campaign ended
        (finished, cancelled or past its last day) is withdrawn, not sent."""
        # The campaign as read with the row, just now: the claim may be a batch of
        # sends older, and ending a campaign withdraws only the rows still queued.
        campaign = row.campaign
        if (
            campaign.status != Campaign.Status.RUNNING
            or campaign.ends_on < campaign_today()
        ):
            Invitation.objects.filter(
                pk=row.pk, status=Invitation.Status.SENDING
            ).update(status=Invitation.Status.WITHDRAWN)
            return None
        customer = row.member.customer
        if customer.is_gone:
            return None
        consent_field, address_field = CHANNEL_CONSENT[row.channel]
        if not getattr(customer, consent_field) or not getattr(customer, address_field):
            return None
        links = invitation_links(row)
        text = invitation_text(row, links)
        if row.channel == Invitation.Channel.SMS:
            return outbox.Message(outbox.Channel.SMS, customer.mobile, "", text)
        html = render_to_string(
            "marketing/invitation_email.html",
            {"campaign": row.campaign, "customer": customer, **links},
        )
        subject = row.campaign.email_subject or row.campaign.name
        return outbox.Message(
            outbox.Channel.EMAIL, customer.email, subject, text, html=html
        )

    def after_sent(self, row: Invitation, *, now: datetime) -> None:
        # A one-way message, not a conversation: it must not count as the customer's
        # last contact nor clear the follow-up a consultant has planned.
        interaction_log(
            customer=row.member.customer,
            kind=Interaction.Kind.SYSTEM,
            channel=row.channel,
            entry=marketing_events.INVITED(campaign=row.campaign),
            actor=None,
            link=row.campaign,
        )

    def describe(self, row: Invitation) -> str:
        return f"{row.campaign} · {row.member.customer} · {row.get_channel_display()}"


INVITATIONS = InvitationKind()


def public_token(invitation: Invitation, salt: str) -> str:
    return signing.dumps({"i": invitation.pk}, salt=salt, compress=True)


def public_url(name: str, token: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse(name, args=[token])


def invitation_links(invitation: Invitation) -> dict[str, str]:
    """The code and the public links one invitation carries."""
    signup = public_token(invitation, SIGNUP_SALT)
    return {
        "code": invitation.member.code_display,
        "signup": public_url("marketing:public-signup", signup),
        "qr": public_url("marketing:public-qr", signup),
        "unsubscribe": public_url(
            "marketing:unsubscribe", public_token(invitation, UNSUBSCRIBE_SALT)
        ),
    }


def invitation_text(invitation: Invitation, links: dict[str, str]) -> str:
    campaign = invitation.campaign
    lines = [
        campaign.message.strip() or campaign.name,
        "",
        _("Your invitation code: %(code)s") % {"code": links["code"]},
        _("Sign up: %(url)s") % {"url": links["signup"]},
        _("Unsubscribe: %(url)s") % {"url": links["unsubscribe"]},
    ]
    return "\n".join(lines)


def invitations_send(
    *, campaign_id: int, limit: int | None = None, now: datetime | None = None
) -> int:
    """Send up to one rate-limit batch of the campaign's queued invitations; returns
    how many rows were handled (sent, skipped or refused)."""
    limit = limit or settings.MARKETING_SEND_PER_MINUTE
    handled = 0
    only = Q(campaign_id=campaign_id)
    while handled < limit:
        pks = outbox.claim(
            INVITATIONS,
            now=now,
            limit=min(outbox.CLAIM_BATCH, limit - handled),
            only=only,
        )
        if not pks:
            break
        for pk in pks:
            outbox.send_claimed(INVITATIONS, pk, now=now)
        handled += len(pks)
    return handled


def invitations_recover(*, now: datetime | None = None) -> outbox.Recovered:
    """Rows left 'sending' by a crashed sender: checked with the provider (sent,
    queued again, or parked for review), never sent again blindly."""
    return outbox.recover_stale(INVITATIONS, now=now)


def campaigns_with_queued() -> list[int]:
    """Running campaigns with invitations still to send (an index probe each)."""
    queued = Invitation.objects.filter(
        campaign_id=OuterRef("pk"), status=Invitation.Status.PENDING
    )
    return list(
        Campaign.objects.filter(
            status=Campaign.Status.RUNNING, ends_on__gte=campaign_today()
        )
        .filter(Exists(queued))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def invitation_from_token(token: str, salt: str) -> Invitation | None:
    try:
        data = signing.loads(token, salt=salt)
    except signing.BadSignature:
        return None
    return (
        Invitation.objects.select_related("campaign", "member__customer")
        .filter(pk=data.get("i"))
        .first()
    )


PURPOSES = {
    Invitation.Channel.EMAIL: ConsentRecord.Purpose.EMAIL,
    Invitation.Channel.SMS: ConsentRecord.Purpose.SMS,
}


@transaction.atomic
def unsubscribe(*, invitation: Invitation) -> bool:
    """Withdraw the customer's consent to the invitation's channel, at once: the flag
    and a ConsentRecord through customers' own consent code, and the member's other
    queued messages on that channel are skipped. False when already withdrawn."""
    customer = Customer.objects.select_for_update().get(
        pk=invitation.member.customer_id
    )
    while customer.merged_into_id is not None:
        # A message sent before a merge: the person is the live record now.
        customer = Customer.objects.select_for_update().get(pk=customer.merged_into_id)
    consent_field, _address = CHANNEL_CONSENT[invitation.channel]
    Invitation.objects.filter(
        member__customer=customer,
        channel=invitation.channel,
        status=Invitation.Status.PENDING,
    ).update(status=Invitation.Status.SKIPPED)
    if not getattr(customer, consent_field):
        return False
    consent_set(
        actor=None,
        customer=customer,
        purpose=PURPOSES[invitation.channel],
        granted=False,
        method=ConsentRecord.Method.UNSUBSCRIBE,
        note=str(invitation.campaign)[:200],
    )
    return True
