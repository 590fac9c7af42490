"""The README's role table is the declared matrix (crm_site.roles), word for word."""

from __future__ import annotations

from pathlib import Path

from django.utils import translation

from crm_site.roles import PERMISSION_SUMMARY, ROLE_PERMISSIONS, role_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_default_permission_says_what_it_lets_a_role_see_or_do():
    used = {perm for perms in ROLE_PERMISSIONS.values() for perm in perms}
    assert used - set(PERMISSION_SUMMARY) == set()


def test_the_readme_role_table_is_the_declared_matrix():
    with translation.override("en"):
        table = role_table()
    text = README.read_text(encoding="utf-8")
    missing = [line for line in table if line not in text.splitlines()]
    assert missing == [], "README.md's role table is stale; paste:\n" + "\n".join(table)
