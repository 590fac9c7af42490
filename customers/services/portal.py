"""Signing owners in to the portal with their mobile and a one-time SMS code.

- Asking for a code writes a ``PortalCode`` row whatever the number (the limits count
  rows; the answer never says whether the number is an owner's). For an owner who may
  sign in (crm_site.portal.is_eligible: sales and service decide) the row is an outbox
  message, sent by a task after commit: the request never waits on the SMS provider.
- The code is never stored: it is derived from the row's idempotency key with the
  secret key (so the worker can write it into the SMS), and only its keyed hash is kept
  to compare with what the owner types.
- Wrong codes are counted as staff log-ins are (crm_site.lockout), per number and per
  address, but only the address locks: knowing an owner's mobile must not be enough to
  keep them out. Guessing a number's code stays bounded without a lock: each guess is
  checked against the number's newest live code and a wrong one uses one of its
  PORTAL_CODE_TRIES (under its row lock), and a number gets at most
  PORTAL_CODES_PER_NUMBER_HOUR codes an hour: 25 guesses an hour of a million codes.
- Every sign-in and every failure on a customer's number is an audit entry and a
  timeline entry on that customer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm_site import messaging, outbox, portal
from crm_site.audit import audit_record
from crm_site.lockout import (
    portal_failure_record,
    portal_failures_reset,
    portal_locked,
)
from crm_site.models import AuditEntry
from customers import events as customer_events
from customers.models import Channel, Customer, Interaction, PortalCode
from customers.phones import mask_phone
from customers.services.records import existing_with_mobile
from customers.services.timeline import interaction_log

CODE_DIGITS = 6
logger = logging.getLogger("anju.sms")


def phone_key(phone: str) -> str:
    """A keyed hash of an E.164 number: the rows count requests per number without
    holding the number."""
    return salted_hmac("customers.portal.phone", phone, algorithm="sha256").hexdigest()


def _code_for(row: PortalCode) -> str:
    digest = salted_hmac(
        "customers.portal.code", str(row.idempotency_key), algorithm="sha256"
    ).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def _code_hash(row: PortalCode, code: str) -> str:
    return salted_hmac(
        "customers.portal.code-hash",
        f"{row.idempotency_key}:{code}",
        algorithm="sha256",
    ).hexdigest()


def lock_key(*, phone: str, customer: Customer | None) -> str:
    """The lock-out key of a number: the customer's id, else a hash of the number."""
    return f"c{customer.pk}" if customer is not None else f"n{phone_key(phone)[:20]}"


class CodeRequest(StrEnum):
    SENT = "sent"  # also the answer for a number that is nobody's
    TOO_SOON = "too_soon"
    TOO_MANY = "too_many"


def _serialise(key: str) -> None:
    # Two requests for one number at once must not both pass the limits.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])


@transaction.atomic
def portal_code_request(
    *, phone: str, ip_address: str | None, now: datetime | None = None
) -> CodeRequest:
    """Ask for a sign-in code for this E.164 number from this address.

    The same answer (SENT) whether or not the number is an owner's; the limits (one
    per interval and a few per hour per number, more per address) hold for every
    number alike, so they reveal nothing either."""
    now = now or timezone.now()
    key = phone_key(phone)
    _serialise(f"portal-code:{key}")
    hour_ago = now - timedelta(hours=1)
    recent = list(
        PortalCode.objects.filter(phone_key=key, created_at__gte=hour_ago)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[: settings.PORTAL_CODES_PER_NUMBER_HOUR]
    )
    interval = timedelta(seconds=settings.PORTAL_CODE_INTERVAL_SECONDS)
    if recent and recent[0] > now - interval:
        return CodeRequest.TOO_SOON
    if len(recent) >= settings.PORTAL_CODES_PER_NUMBER_HOUR:
        return CodeRequest.TOO_MANY
    if ip_address and (
        PortalCode.objects.filter(ip_address=ip_address, created_at__gte=hour_ago)[
            : settings.PORTAL_CODES_PER_ADDRESS_HOUR
        ].count()
        >= settings.PORTAL_CODES_PER_ADDRESS_HOUR
    ):
        return CodeRequest.TOO_MANY
    customer = existing_with_mobile(phone)
    eligible = customer is not None and portal.is_eligible(customer)
    row = PortalCode(
        customer=customer if eligible else None,
        phone_key=key,
        ip_address=ip_address,
        created_at=now,
        expires_at=now + timedelta(minutes=settings.PORTAL_CODE_MINUTES),
        next_attempt_at=now,
        status=outbox.Status.PENDING if eligible else outbox.Status.SKIPPED,
    )
    row.code_hash = _code_hash(row, _code_for(row))
    row.save()
    if eligible:
        from customers import tasks

        tasks.portal_code_send.delay_on_commit(row.pk)
    return CodeRequest.SENT


@dataclass(frozen=True)
class SignIn:
    customer: Customer | None
    locked: bool = False


def _timeline(customer: Customer, entry) -> None:
    interaction_log(
        customer=customer,
        kind=Interaction.Kind.SYSTEM,
        entry=entry,
        actor=None,
        channel=Channel.PORTAL,
    )


def portal_sign_in(
    *,
    phone: str,
    code: str,
    remember: bool,
    ip_address: str | None,
    user_agent: str = "",
    path: str = "",
    now: datetime | None = None,
) -> SignIn:
    """Check a code typed for a number: the customer to sign in, or None (wrong,
    expired, used, or the number is nobody's: one answer) with ``locked`` when the
    address is locked out. The right code, while its code lives and has tries left,
    signs in however many wrong ones were typed for the number elsewhere. Failures
    are recorded even though nobody signs in (they commit on their own)."""
    now = now or timezone.now()
    customer = existing_with_mobile(phone)
    key = lock_key(phone=phone, customer=customer)
    if portal_locked(ip_address=ip_address):
        return SignIn(None, locked=True)
    with transaction.atomic():
        row = (
            PortalCode.objects.select_for_update()
            .filter(
                phone_key=phone_key(phone),
                customer__isnull=False,
                used_at__isnull=True,
                expires_at__gt=now,
                failed_attempts__lt=settings.PORTAL_CODE_TRIES,
            )
            .order_by("-created_at")
            .first()
        )
        right = (
            row is not None
            and customer is not None
            and row.customer_id == customer.pk
            and code.isdigit()
            and constant_time_compare(_code_hash(row, code), row.code_hash)
            and portal.is_eligible(customer)
        )
        if right:
            PortalCode.objects.filter(pk=row.pk).update(used_at=now)
            portal_failures_reset(key=key)
            audit_record(
                actor=None,
                instance=customer,
                action=AuditEntry.Action.SIGN_IN,
                changes={
                    "ip_address": {"old": "", "new": ip_address or ""},
                    "remembered": {"old": "", "new": str(remember)},
                },
            )
            _timeline(
                customer,
                customer_events.PORTAL_SIGNED_IN_REMEMBERED()
                if remember
                else customer_events.PORTAL_SIGNED_IN(),
            )
            return SignIn(customer)
        if row is not None:
            PortalCode.objects.filter(pk=row.pk).update(
                failed_attempts=F("failed_attempts") + 1
            )
    with transaction.atomic():
        locked = portal_failure_record(
            key=key,
            ip_address=ip_address,
            user_agent=user_agent,
            path=path,
            target=customer,
        )
        if customer is not None:
            audit_record(
                actor=None,
                instance=customer,
                action=AuditEntry.Action.SIGN_IN_FAILED,
                changes={"ip_address": {"old": "", "new": ip_address or ""}},
            )
            _timeline(customer, customer_events.PORTAL_SIGN_IN_FAILED())
            if locked:
                _timeline(customer, customer_events.PORTAL_LOCKED())
    return SignIn(None, locked=locked)


# Sending (the one outbox) -------------------------------------------------------------


class CodeKind(outbox.OutboxKind):
    name = "customers.portal_code"
    label = gettext_lazy("Owner portal sign-in codes")
    model = PortalCode
    # A code lives minutes: retrying for an hour would only deliver a dead code.
    max_attempts = 3

    def rows(self):
        return PortalCode.objects.select_related("customer")

    def ready(self, now: datetime) -> Q:
        return Q(expires_at__gt=now)

    def compose(self, row: PortalCode) -> outbox.Message | None:
        customer = row.customer
        if (
            customer is None
            or not customer.mobile
            or row.used_at is not None
            or row.expires_at <= timezone.now()
        ):
            return None
        text = _(
            "Anju owner portal: your sign-in code is %(code)s, valid for %(minutes)s "
            "minutes. Never give it to anyone, our staff included."
        ) % {"code": _code_for(row), "minutes": settings.PORTAL_CODE_MINUTES}
        return outbox.Message(
            channel=outbox.Channel.SMS, address=customer.mobile, subject="", text=text
        )

    def after_sent(self, row: PortalCode, *, now: datetime) -> None:
        # With the log backend nothing reaches a phone, so the code is written to the
        # log instead: the only way to sign in to a demo or development install.
        # A real provider's codes are never logged.
        if isinstance(messaging.get_sms_backend(), messaging.LogSmsBackend):
            logger.info(
                "Owner portal sign-in code for %s: %s (log SMS backend, not sent)",
                mask_phone(row.customer.mobile or ""),
                _code_for(row),
            )

    def describe(self, row: PortalCode) -> str:
        return f"{row.customer} · {row.created_at:%Y-%m-%d %H:%M}"


CODES = CodeKind()


def portal_code_send(*, code_id: int) -> bool:
    """Send one sign-in code; a second call, or a concurrent one, sends nothing."""
    return outbox.send_one(CODES, code_id)


def portal_codes_send_pending(*, now: datetime | None = None) -> int:
    """Codes whose task was lost (broker down), still alive: sent now, each once."""
    outbox.recover_stale(CODES, now=now)
    return outbox.send_due(CODES, now=now)


def portal_codes_prune(*, now: datetime | None = None, days: int = 7) -> int:
    """Delete sign-in code rows older than ``days`` (sign-ins stay in the audit trail
    and on the timeline). Running it twice deletes nothing more."""
    now = now or timezone.now()
    deleted, _rows = PortalCode.objects.filter(
        created_at__lt=now - timedelta(days=days)
    ).delete()
    return deleted
