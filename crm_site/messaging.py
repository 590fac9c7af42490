"""Outgoing messages to customers: the SMS gateway interface and e-mail.

Service surveys, handover notices and marketing invitations all send through here, so a
developer plugs in their SMS provider once (``SMS_BACKEND``, a dotted path to a class with a
``send`` method). The default backend logs that a message was handed over (masked number,
length; never the text, which holds names and live links); ``LocMemSmsBackend``
keeps them in ``sms_outbox`` for tests, like Django's ``mail.outbox``.

Callers keep outbox rows (crm_site.outbox: what must be sent, and whether it was); these
functions only hand one message to the provider and return its message id, or raise
``SendFailed``. Every message carries the row's idempotency key: a provider that honours
it accepts a repeated key once, and ``lookup_sms``/``lookup_email`` ask whether a message
with that key was accepted (``Accepted``), was not (``NOT_ACCEPTED``) or cannot be known
(``UNKNOWN``), which is how a send interrupted by a crash is settled without guessing.
"""

from __future__ import annotations

import base64
import logging
import os
import uuid
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.module_loading import import_string

from crm_site.logging import mask_phone

logger = logging.getLogger("anju.sms")


class SendFailed(Exception):
    """The provider refused or could not be reached; the caller may try again later."""


@dataclass(frozen=True)
class Accepted:
    """The provider has the message with this key: its message id."""

    message_id: str


# The provider says it never accepted a message with the key: sending it is safe.
NOT_ACCEPTED = "not-accepted"
# The provider cannot say (plain SMTP, a gateway without look-up): nobody may guess.
UNKNOWN = "unknown"

Lookup = Accepted | str


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    text: str
    message_id: str
    key: str = ""


class SmsBackend:
    """Hands one SMS to a provider and returns the provider's message id.

    ``key`` is the message's idempotency key; a provider that supports one should be
    given it. A backend that can ask the provider whether a key was accepted overrides
    ``lookup``; the default answers ``UNKNOWN``."""

    def send(self, phone: str, text: str, *, key: str = "") -> str:  # pragma: no cover
        raise NotImplementedError

    def lookup(self, key: str) -> Lookup:
        return UNKNOWN


def _logged_message_id() -> str:
    """A random message id the log's masking never takes for a number: base32 has
    no 0, 1, 8 or 9, so no run of it looks like a mobile or an ID number (a hex id
    did, about once in a hundred, and was logged half masked)."""
    return base64.b32encode(os.urandom(20)).decode().lower()


class LogSmsBackend(SmsBackend):
    """Logs that a message would have been sent, instead of sending it: its id, the
    masked number and its length, never the text (it holds names and live links).
    It keeps each key it accepted (``crm_site.LoggedSms``), so it behaves like a
    provider that honours idempotency keys: a repeated key is accepted once, and
    ``lookup`` answers."""

    def send(self, phone: str, text: str, *, key: str = "") -> str:
        from crm_site.models import LoggedSms

        if not key:
            message_id = _logged_message_id()
            self._log(message_id, phone, text)
            return message_id
        logged, created = LoggedSms.objects.get_or_create(
            key=key, defaults={"message_id": _logged_message_id()}
        )
        if created:
            self._log(logged.message_id, phone, text)
        else:
            logger.info("SMS %s: key already accepted", logged.message_id)
        return logged.message_id

    @staticmethod
    def _log(message_id: str, phone: str, text: str) -> None:
        logger.info(
            "SMS %s to %s: %d characters (not sent: log backend)",
            message_id,
            mask_phone(phone),
            len(text),
        )

    def lookup(self, key: str) -> Lookup:
        from crm_site.models import LoggedSms

        message_id = (
            LoggedSms.objects.filter(key=key)
            .values_list("message_id", flat=True)
            .first()
        )
        return Accepted(message_id) if message_id else NOT_ACCEPTED


sms_outbox: list[SmsMessage] = []


class LocMemSmsBackend(SmsBackend):
    """Keeps every message handed to it in ``sms_outbox`` (tests), duplicates too, so a
    test sees a second send; ``lookup`` searches the list."""

    def send(self, phone: str, text: str, *, key: str = "") -> str:
        message = SmsMessage(
            phone=phone, text=text, message_id=uuid.uuid4().hex, key=key
        )
        sms_outbox.append(message)
        return message.message_id

    def lookup(self, key: str) -> Lookup:
        for message in sms_outbox:
            if key and message.key == key:
                return Accepted(message.message_id)
        return NOT_ACCEPTED


@cache
def _backend_class(path: str) -> type[SmsBackend]:
    return import_string(path)


def get_sms_backend() -> SmsBackend:
    return _backend_class(settings.SMS_BACKEND)()


def send_sms(phone: str, text: str, *, key: str = "") -> str:
    """Send one SMS; returns the provider's message id or raises ``SendFailed``."""
    if not phone:
        raise SendFailed("no phone number")
    try:
        return get_sms_backend().send(phone, text, key=key)
    except SendFailed:
        raise
    except Exception as exc:  # a provider's own errors become one kind
        raise SendFailed(str(exc)) from exc


def lookup_sms(key: str) -> Lookup:
    """Whether the SMS provider accepted a message with this key."""
    try:
        return get_sms_backend().lookup(key)
    except Exception:  # a provider that cannot answer now cannot answer
        logger.warning("SMS look-up of %s failed", key, exc_info=True)
        return UNKNOWN


@dataclass(frozen=True)
class Attachment:
    """A file sent with an e-mail."""

    filename: str
    content: bytes
    mimetype: str


def email_message_id(key: str) -> str:
    return f"<{key}@anju-crm>" if key else f"<{uuid.uuid4().hex}@anju-crm>"


def send_email(
    to: str,
    subject: str,
    body: str,
    html: str | None = None,
    *,
    key: str = "",
    attachments: tuple[Attachment, ...] | list[Attachment] = (),
) -> str:
    """Send one e-mail through Django's mail backend; returns its Message-ID, which is
    derived from the key so a receiving server can recognise a repeat."""
    if not to:
        raise SendFailed("no e-mail address")
    message = EmailMultiAlternatives(subject=subject, body=body, to=[to])
    if html:
        message.attach_alternative(html, "text/html")
    for attachment in attachments:
        message.attach(attachment.filename, attachment.content, attachment.mimetype)
    message.extra_headers["Message-ID"] = email_message_id(key)
    try:
        message.send()
    except Exception as exc:
        raise SendFailed(str(exc)) from exc
    return message.extra_headers["Message-ID"]


def lookup_email(key: str) -> Lookup:
    """SMTP cannot say whether a message was accepted, so the answer is UNKNOWN, except
    for Django's in-memory backend (tests), whose outbox can be searched."""
    if settings.EMAIL_BACKEND != "django.core.mail.backends.locmem.EmailBackend":
        return UNKNOWN
    from django.core import mail

    wanted = email_message_id(key)
    for message in getattr(mail, "outbox", []):
        if message.extra_headers.get("Message-ID") == wanted:
            return Accepted(wanted)
    return NOT_ACCEPTED
