"""Search keys derived from a customer's name: full pinyin and initials.

'张三' is found by 'zhangsan' and 'zs'. A surname with several readings (曾 ceng/zeng,
单 dan/shan) keeps every reading, so whichever one the user types finds it.
"""

from __future__ import annotations

from pypinyin import Style, lazy_pinyin, pinyin

MAX_VARIANTS = 4


def _variants(name: str) -> list[list[str]]:
    if not name:
        return [[]]
    first = pinyin(name[0], style=Style.NORMAL, heteronym=True)[0][:MAX_VARIANTS]
    rest = lazy_pinyin(name[1:], style=Style.NORMAL)
    return [[reading, *rest] for reading in first]


def pinyin_keys(name: str) -> tuple[str, str]:
    """(full pinyin readings joined by spaces, initials readings joined by spaces)."""
    compact = "".join(name.split()).lower()
    variants = _variants(compact)
    full = list(dict.fromkeys("".join(v).lower() for v in variants))
    initials = list(dict.fromkeys("".join(s[:1] for s in v).lower() for v in variants))
    return " ".join(full)[:300], " ".join(initials)[:100]


def looks_like_pinyin(text: str) -> bool:
    return text.isascii() and text.replace(" ", "").isalpha()
