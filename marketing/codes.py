"""Short invitation codes: a member's id, scrambled and written in Crockford base 32.

The scrambling is a bijection on 30 bits (multiply by an odd constant, then xor), so
codes are unique without being stored, neighbouring members get unrelated codes, and a
code maps straight back to its row. Six characters, no I/L/O/U to misread at the door.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BITS = 30
MASK = (1 << BITS) - 1
MULTIPLIER = 0x2F1C_3A5B | 1
INVERSE = pow(MULTIPLIER, -1, 1 << BITS)
SALT = 0x15A4_E35D & MASK
LENGTH = 6
# Letters people type for the ones the alphabet leaves out.
READ_AS = {"I": "1", "L": "1", "O": "0"}


def encode_code(pk: int) -> str:
    if not 0 < pk <= MASK:
        raise ValueError("id out of range for a short code")
    value = ((pk * MULTIPLIER) & MASK) ^ SALT
    chars = []
    for _ in range(LENGTH):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def decode_code(code: str) -> int | None:
    """The id a code stands for, or None when it is not a well-formed code."""
    text = "".join(code.split()).upper().replace("-", "")
    text = "".join(READ_AS.get(ch, ch) for ch in text)
    if len(text) != LENGTH or any(ch not in ALPHABET for ch in text):
        return None
    value = 0
    for ch in text:
        value = (value << 5) | ALPHABET.index(ch)
    pk = ((value ^ SALT) * INVERSE) & MASK
    return pk or None
