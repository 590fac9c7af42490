"""Identity documents: validation, masking and the keyed hash used for matching."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Collection

from django.conf import settings
from django.utils.translation import gettext_lazy as _

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


# A run of an identity number's characters in free text as people type one: digits
# and the check letter X (full-width ones too), spaces and dashes between groups.
_ID_RUN = re.compile(r"[\dXxＸｘ][\dXxＸｘ\s\-－]*")


def id_numbers_replaced(text: str, numbers: Collection[str], replacement: str) -> str:
    """``text`` with every run of an identity number's characters that holds one of
    ``numbers`` as typed (110105 19491231 002x, full-width digits) replaced by
    ``replacement``, the run read as the number fields read one
    (normalize_id_number)."""
    wanted = {normalize_id_number(number) for number in numbers if number}
    if not wanted or not text:
        return text

    def replace(match: re.Match[str]) -> str:
        run = match[0]
        folded = normalize_id_number(unicodedata.normalize("NFKC", run))
        folded = folded.replace("-", "")
        if not any(number in folded for number in wanted):
            return run
        # The spaces around the number stay.
        return (
            run[: len(run) - len(run.lstrip())]
            + replacement
            + (run[len(run.rstrip()) :])
        )

    return _ID_RUN.sub(replace, text)
