"""Identity documents: validation, masking and the keyed hash used for matching."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Collection

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from customers.phones import spans_replaced

# Weights and check characters of GB 11643-1999 (the 18-digit resident ID).
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


class InvalidIdNumber(ValueError):
    pass


def normalize_id_number(raw: str) -> str:
    return "".join((raw or "").split()).upper()


def validate_resident_id(number: str) -> None:
    if len(number) != 18 or not number[:17].isdigit():
        raise InvalidIdNumber(
            _("A resident ID number has 18 characters: 17 digits and a check digit.")
        )
    total = sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True))
    if _CHECK[total % 11] != number[17]:
        raise InvalidIdNumber(_("The check digit of this resident ID number is wrong."))


def id_number_hash(number: str) -> str:
    """HMAC-SHA256 of the normalised number: equal numbers match, the hash reveals nothing."""
    if not number:
        return ""
    key = settings.ID_NUMBER_HASH_KEY.encode()
    return hmac.new(
        key, normalize_id_number(number).encode(), hashlib.sha256
    ).hexdigest()


def mask_id_number(number: str) -> str:
    """310***********1234: the region and the last four, nothing in between."""
    if not number:
        return ""
    if len(number) <= 6:
        return "*" * len(number)
    head = 3 if len(number) >= 12 else 1
    return f"{number[:head]}{'*' * (len(number) - head - 4)}{number[-4:]}"


# A group of an identity number's characters as people type one: digits and the
# check letter X (full-width ones too). One typed number is one group or several
# (110105 19491231 002x), each apart from the next by one space or dash; a line break
# or anything longer ends it: the next line is another entry (a date, a phone, a
# unit number), the next word another person's number.
_ID_GROUP = re.compile(r"[\dXxＸｘ]+")
_ID_SEPARATOR = re.compile(r"[ \t\u3000\-－]")


def _id_folded(typed: str) -> str:
    """A typed group read as the number fields read one (normalize_id_number)."""
    return normalize_id_number(unicodedata.normalize("NFKC", typed)).replace("-", "")


def id_numbers_replaced(text: str, numbers: Collection[str], replacement: str) -> str:
    """``text`` with every place where one of ``numbers`` is typed (110105 19491231
    002x, 110105-19491231-002X, full-width digits) replaced by ``replacement``, and
    nothing else: of the groups typed one after another, only the shortest span
    whose characters are the number goes; a number typed next to it (a spouse's ID)
    and the lines around it stay."""
    wanted = {normalize_id_number(number) for number in numbers if number}
    if not wanted or not text:
        return text
    longest = max(len(number) for number in wanted)
    groups = [(match.start(), match.end()) for match in _ID_GROUP.finditer(text)]

    def number_end(first: int) -> int | None:
        # The last group of the number typed from ``first`` on, if it is one.
        folded = ""
        for last in range(first, len(groups)):
            if last > first and not _ID_SEPARATOR.fullmatch(
                text[groups[last - 1][1] : groups[last][0]]
            ):
                return None
            folded += _id_folded(text[groups[last][0] : groups[last][1]])
            if len(folded) > longest:
                return None
            if folded in wanted:
                return last
        return None

    return spans_replaced(text, groups, number_end, replacement)
