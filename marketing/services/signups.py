"""Sign-ups from a campaign's landing page (the website, a WeChat page): a person who
was not invited types their name and mobile. They become a member of the campaign and
answer it as an invited guest does (marketing.services.responses), so the timeline,
the lead hand-out and the deal's attribution work the same."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from customers.models import Channel, ConsentRecord, Customer
from customers.services import (
    DuplicateCustomer,
    consent_set,
    customer_create,
    customer_find_by_phone,
)
from marketing.models import Campaign, CampaignMember, Response
from marketing.services.responses import refuse_unless_running, response_record

#: What a ticked consent box on a landing page that asks for a mobile agrees to.
LANDING_CONSENTS = {
    ConsentRecord.Purpose.SMS: "consent_sms",
    ConsentRecord.Purpose.PHONE: "consent_phone",
}


@dataclass(frozen=True)
class SignUp:
    response: Response
    member: CampaignMember
    #: The mobile was not on record: a new customer was registered.
    registered: bool
    #: False when the person had signed up for this campaign already.
    created: bool
    #: This sign-up made the person a guest of the campaign (not invited, nor signed
    #: up before): only then is their door code theirs to be told.
    joined: bool = False


@transaction.atomic
def signup_from_landing(
    *,
    actor: User,
    campaign: Campaign,
    name: str,
    mobile: str,
    consent: bool,
    source: str = "",
    utm: dict[str, str] | None = None,
) -> SignUp:
    """Sign a person up for a running campaign from its landing page.

    ``mobile`` is E.164. The person is found by number as at the desks (an existing
    customer keeps their record, name and consultant: never a twin), else registered
    with the website as source. ``consent`` is the landing page's box ("contact me
    by SMS and phone"): ticked, it is recorded as consent given on a web form for a
    person this sign-up registers. A customer already on record keeps what they
    agreed to, ticked or not: nothing proves the form was filled by the number's
    owner, and anyone typing it would otherwise opt a customer who withdrew their
    consent back in (their consultant records it when they confirm). Signing up twice returns the
    first sign-up. Where the visitor came from (``source``, ``utm``) is kept on the
    sign-up's audit entry. A campaign that is not running, or past its end date,
    refuses (ResponseRefused).
    """
    # Before anyone is registered: a refused sign-up saves nothing.
    refuse_unless_running(campaign, kind=Response.Kind.SIGNUP)
    customer = customer_find_by_phone(mobile)
    registered = False
    if customer is None:
        try:
            customer = customer_create(
                actor=actor,
                name=" ".join(name.split())[:100],
                mobile=mobile,
                source=Customer.Source.WEB,
            )
            registered = True
        except DuplicateCustomer as twin:
            # Registered elsewhere a moment ago: that record.
            customer = twin.existing
    if consent and registered:
        for purpose, field in LANDING_CONSENTS.items():
            if not getattr(customer, field):
                consent_set(
                    actor=actor,
                    customer=customer,
                    purpose=purpose,
                    granted=True,
                    method=ConsentRecord.Method.WEB,
                    note=campaign.name,
                )
    member, joined = CampaignMember.objects.get_or_create(
        campaign=campaign, customer=customer
    )
    response, created = response_record(
        actor=actor, member=member, kind=Response.Kind.SIGNUP, channel=Channel.WEB
    )
    if created:
        came_from = {"source": source, **(utm or {})}
        audit_record(
            actor=actor,
            instance=response,
            action=AuditEntry.Action.CREATE,
            changes={
                key: {"old": "", "new": value}
                for key, value in came_from.items()
                if value
            },
        )
    return SignUp(
        response=response,
        member=member,
        registered=registered,
        created=created,
        joined=joined,
    )
