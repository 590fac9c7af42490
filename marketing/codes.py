"""Invitation codes: random, unguessable, easy to read out at the door.

A code is 12 hexadecimal characters (48 random bits) drawn by PostgreSQL's
``gen_random_uuid()`` (a cryptographically strong generator) when the member row is
inserted, so the INSERT ... SELECT that snapshots a million members draws them in the
database. Nothing about a code follows from the member, the customer or another code
(the old codes were the member id scrambled, and could be computed). Hexadecimal has no
I, L, O or U to misread; people's O, I and L are read as 0 and 1. Codes are unique within
a campaign (a constraint), and shown in groups of four.
"""

from __future__ import annotations

import secrets

from django.contrib.postgres.functions import RandomUUID
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Left, Replace, Upper

LENGTH = 12
ALPHABET = "0123456789ABCDEF"
# Letters people type for the digits they look like.
READ_AS = {"O": "0", "I": "1", "L": "1"}


def code_db_default():
    """The database expression that draws a new code (the column's default)."""
    return Upper(
        Left(
            Replace(
                Cast(RandomUUID(), output_field=CharField()), Value("-"), Value("")
            ),
            LENGTH,
        )
    )


def new_code() -> str:
    """A code drawn in Python (the data migration, and repairs of a collision)."""
    return secrets.token_hex(LENGTH // 2).upper()


def normalize_code(text: str) -> str | None:
    """The stored form of a typed or scanned code, or None when it cannot be one."""
    cleaned = "".join(text.split()).upper().replace("-", "")
    cleaned = "".join(READ_AS.get(ch, ch) for ch in cleaned)
    if len(cleaned) != LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def display_code(code: str) -> str:
    """3F9A-2C71-B0D4: groups of four, to read out and type."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
