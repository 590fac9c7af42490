"""Keeping personal data and live links out of the logs.

``MaskPersonalDataFilter`` sits on every handler in ``settings.LOGGING``. It rewrites
each record's message (and its traceback) with ``mask_text``: mobile numbers (E.164 and
11-digit Chinese mobiles, with or without separators) keep their first three and last
four digits, 18-character resident ID numbers their region and last four, e-mail
addresses their first letter and domain, and signed links (anything under
``PUBLIC_BASE_URL``, the public survey, booking, sign-up, unsubscribe and QR paths, and
bare ``django.core.signing`` tokens) lose their token. Names cannot be recognised in
free text, so our own log calls write ids, never names or message bodies.

Loaded by ``logging.config`` before the apps: it imports nothing from the project.
"""

from __future__ import annotations

import logging
import re

# The public paths whose last segment is a signed token (service and marketing urls).
_SIGNED_PATH = re.compile(
    r"(/(?:service/survey|service/handover/book|marketing/[usq])/)"
    r"[^/\s\"'<>?#]+"
)
# django.core.signing output: payload[:timestamp]:signature (signature >= 20 chars).
_SIGNING_TOKEN = re.compile(
    r"(?<![\w.:/-])\.?[\w-]{2,}(?::[\w-]+)?:[\w-]{20,}(?![\w-])"
)
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
_E164 = re.compile(r"(?<![\w+])\+(\d{2})[\d -]{6,14}(\d{4})(?!\d)")
_CN_MOBILE = re.compile(r"(?<![\d+])(1[3-9]\d)[ -]?\d{4}[ -]?(\d{4})(?!\d)")
_EMAIL = re.compile(r"(?<![\w.+-])([\w])[\w.+-]*@([\w-]+(?:\.[\w-]+)+)")

MASK = "***"


def _public_link_pattern() -> re.Pattern[str] | None:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        base = getattr(settings, "PUBLIC_BASE_URL", "")
    except (
        ImproperlyConfigured
    ):  # settings not configured (a script): paths still match
        base = ""
    if not base:
        return None
    return re.compile(re.escape(base.rstrip("/")) + r"/[^\s\"'<>]*")


def mask_text(text: str) -> str:
    """The text with phone numbers, ID numbers, e-mail addresses and signed links
    masked; anything else unchanged."""
    if not text:
        return text
    public = _public_link_pattern()
    if public is not None:
        text = public.sub(lambda m: _mask_link(m.group(0)), text)
    text = _SIGNED_PATH.sub(lambda m: m.group(1) + MASK, text)
    text = _SIGNING_TOKEN.sub(MASK, text)
    text = _ID_NUMBER.sub(lambda m: m.group(1)[:3] + "*" * 11 + m.group(2)[-4:], text)
    text = _E164.sub(lambda m: f"+{m.group(1)}****{m.group(2)}", text)
    text = _CN_MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


def _mask_link(url: str) -> str:
    """A link under PUBLIC_BASE_URL keeps its first path segment only (which page),
    never its token."""
    scheme_host, _, path = url.partition("://")
    host, _, rest = path.partition("/")
    first = rest.split("/", 1)[0] if rest else ""
    return f"{scheme_host}://{host}/{first}/{MASK}" if first else url


def mask_phone(number: str) -> str:
    """A recipient for a log line: 138****8000 / +86****8000."""
    if not number:
        return ""
    masked = mask_text(number)
    if masked != number:
        return masked
    digits = re.sub(r"\D", "", number)
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


def mask_email(address: str) -> str:
    if not address:
        return ""
    masked = mask_text(address)
    return masked if masked != address else MASK


class MaskPersonalDataFilter(logging.Filter):
    """Rewrites each record so no handler writes a number, an address or a live link."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format string: keep the raw text
            message = str(record.msg)
        record.msg = mask_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def server_logging(loggers: dict[str, str]) -> dict:
    """A logging.config dictionary for a server's own ``loggers`` (name: level): each
    writes to standard output through the masking filter (the page server's granian,
    scripts/page_server.py; the event-stream server's gunicorn,
    scripts/gunicorn_live.conf.py). An access log holds every request's path, signed
    survey, booking and sign-up links included."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"mask_personal": {"()": f"{__name__}.MaskPersonalDataFilter"}},
        "formatters": {
            "generic": {
                "format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"
            }
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "generic",
                "filters": ["mask_personal"],
                "stream": "ext://sys.stdout",
            }
        },
        "loggers": {
            name: {"level": level, "handlers": ["console"], "propagate": False}
            for name, level in loggers.items()
        },
    }
