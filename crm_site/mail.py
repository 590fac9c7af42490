"""E-mail backends.

``MaskedConsoleEmailBackend`` is the default (the local demo, a server without SMTP): like
Django's console backend it sends nothing and writes a line per message, but that line
holds only the message id, the masked recipients and the sizes. Django's own console
backend prints whole messages, and ours carry names, addresses and live signed links.
"""

from __future__ import annotations

from django.core.mail.backends.console import EmailBackend as ConsoleEmailBackend

from crm_site.logging import mask_email


class MaskedConsoleEmailBackend(ConsoleEmailBackend):
    def write_message(self, message) -> None:
        recipients = ", ".join(mask_email(a) for a in message.recipients()) or "-"
        parts = [f"text {len(message.body or '')} characters"]
        for content, mimetype in getattr(message, "alternatives", []) or []:
            parts.append(f"{mimetype} {len(content)} characters")
        if message.attachments:
            parts.append(f"{len(message.attachments)} attachments")
        message_id = message.extra_headers.get("Message-ID", "-")
        self.stream.write(
            f"E-mail {message_id} to {recipients}: {', '.join(parts)} "
            "(not sent: console backend)\n"
        )
