"""Outgoing messages to customers: the SMS gateway interface and e-mail.

Service surveys, handover notices and marketing invitations all send through here, so a
developer plugs in their SMS provider once (``SMS_BACKEND``, a dotted path to a class with a
``send`` method). The default backend logs that a message was handed over (masked number,
length; never the text, which holds names and live links); ``LocMemSmsBackend``
keeps them in ``sms_outbox`` for tests, like Django's ``mail.outbox``.

Callers keep their own outbox rows (what must be sent, and whether it was); these functions
only hand one message to the provider and return its message id, or raise ``SendFailed``.
"""

from __future__ import annotations

import logging
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
class SmsMessage:
    phone: str
    text: str
    message_id: str


class SmsBackend:
    """Hands one SMS to a provider and returns the provider's message id."""

    def send(self, phone: str, text: str) -> str:  # pragma: no cover - interface
        raise NotImplementedError


class LogSmsBackend(SmsBackend):
    """Logs that a message would have been sent, instead of sending it: its id, the
    masked number and its length. Never the text: it holds names and live links."""

    def send(self, phone: str, text: str) -> str:
        message_id = uuid.uuid4().hex
        logger.info(
            "SMS %s to %s: %d characters (not sent: log backend)",
            message_id,
            mask_phone(phone),
            len(text),
        )
        return message_id


sms_outbox: list[SmsMessage] = []


class LocMemSmsBackend(SmsBackend):
    """Keeps sent messages in ``sms_outbox`` (tests)."""

    def send(self, phone: str, text: str) -> str:
        message = SmsMessage(phone=phone, text=text, message_id=uuid.uuid4().hex)
        sms_outbox.append(message)
        return message.message_id


@cache
def _backend_class(path: str) -> type[SmsBackend]:
    return import_string(path)


def get_sms_backend() -> SmsBackend:
    return _backend_class(settings.SMS_BACKEND)()


def send_sms(phone: str, text: str) -> str:
    """Send one SMS; returns the provider's message id or raises ``SendFailed``."""
    if not phone:
        raise SendFailed("no phone number")
    try:
        return get_sms_backend().send(phone, text)
    except SendFailed:
        raise
    except Exception as exc:  # a provider's own errors become one kind
        raise SendFailed(str(exc)) from exc


def send_email(to: str, subject: str, body: str, html: str | None = None) -> str:
    """Send one e-mail through Django's mail backend; returns its Message-ID."""
    if not to:
        raise SendFailed("no e-mail address")
    message = EmailMultiAlternatives(subject=subject, body=body, to=[to])
    if html:
        message.attach_alternative(html, "text/html")
    message.extra_headers["Message-ID"] = f"<{uuid.uuid4().hex}@anju-crm>"
    try:
        message.send()
    except Exception as exc:
        raise SendFailed(str(exc)) from exc
    return message.extra_headers["Message-ID"]
