"""The Chinese catalog covers every string, and the compiled catalog matches it."""

from __future__ import annotations

import ast
import gettext
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def parse_po(path: Path) -> list[dict]:
    """Entries of a .po file: msgctxt, msgid, msgid_plural, msgstr (list), fuzzy."""
    entries: list[dict] = []
    current: dict = {}
    key = None

    def flush():
        if "msgid" in current:
            entries.append(current.copy())
        current.clear()

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            flush()
            key = None
        elif line.startswith("#,"):
            if "msgid" in current:
                flush()
            current["fuzzy"] = "fuzzy" in line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            value = ast.literal_eval(line)
            if key == "msgstr":
                current["msgstr"][-1] += value
            else:
                current[key] += value
        else:
            word, _, rest = line.partition(" ")
            value = ast.literal_eval(rest)
            if word.startswith("msgstr"):
                if "msgid" in current and "msgstr" not in current:
                    current["msgstr"] = []
                current["msgstr"].append(value)
                key = "msgstr"
            else:
                if word == "msgctxt" and "msgstr" in current:
                    flush()
                current[word] = value
                key = word
    flush()
    return entries


def real_entries(path: Path) -> list[dict]:
    return [e for e in parse_po(path) if e["msgid"]]


def test_every_message_has_a_chinese_translation_and_none_is_fuzzy():
    header = parse_po(PO)[0]
    assert header["msgid"] == "" and not header.get("fuzzy")
    missing = [
        e["msgid"] for e in real_entries(PO) if not all(e["msgstr"]) or e.get("fuzzy")
    ]
    assert missing == []


def test_compiled_catalog_matches_the_source_catalog():
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in real_entries(PO):
        msgid = entry["msgid"]
        if "msgctxt" in entry:
            got = compiled.pgettext(entry["msgctxt"], msgid)
        elif "msgid_plural" in entry:
            got = compiled.ngettext(msgid, entry["msgid_plural"], 1)
        else:
            got = compiled.gettext(msgid)
        assert got == entry["msgstr"][0], f"stale .mo for {msgid!r}: run make messages"


SOURCE_DIRS = ["crm_site", "customers", "sales", "service", "marketing", "templates"]


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="gettext is not installed")
def test_catalog_contains_every_string_in_the_code(tmp_path, settings, monkeypatch):
    # makemessages writes next to the sources it scans, so it scans a copy.
    for name in SOURCE_DIRS:
        shutil.copytree(
            ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    (tmp_path / "locale").mkdir()
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=["zh_Hans"], no_location=True, verbosity=0)
    fresh = {
        e["msgid"]
        for e in real_entries(
            tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
        )
    }
    committed = {e["msgid"] for e in real_entries(PO)}
    assert sorted(fresh - committed) == [], (
        "run make messages and translate the new strings"
    )
