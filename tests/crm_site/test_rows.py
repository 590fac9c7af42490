"""The Jinja2 row templates of the busiest pages ({% rows %}, crm_site/jinja.py): they
print what the Django loop printed, escape like it, and refuse what they must not do."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template, engines
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import mark_safe
from jinja2 import TemplateSyntaxError, UndefinedError

from customers import services
from tests.factories import CustomerFactory

ROW_TEMPLATES = sorted((Path(settings.BASE_DIR) / "templates").rglob("*.jinja"))


def _render(source: str, items, **extra) -> str:
    return engines["jinja2"].from_string(source).render({"rows": items, **extra})


def test_values_are_escaped_and_safe_strings_are_not():
    class Row:
        name = "<script>alert(1)</script>"
        html = mark_safe("<b>ok</b>")

    out = _render("{% for r in rows %}{{ r.name }}|{{ r.html }}{% endfor %}", [Row()])
    assert out == "&lt;script&gt;alert(1)&lt;/script&gt;|<b>ok</b>"


def test_a_misspelt_attribute_is_an_error_not_an_empty_cell():
    class Row:
        name = "x"

    with pytest.raises(UndefinedError):
        _render("{% for r in rows %}{{ r.nmae }}{% endfor %}", [Row()])


def test_row_templates_cannot_translate():
    """makemessages does not read .jinja files: every label comes translated."""
    with pytest.raises(UndefinedError):
        _render('{{ _("Customers") }}', [])
    with pytest.raises(TemplateSyntaxError):
        _render("{% trans %}Customers{% endtrans %}", [])


@pytest.mark.parametrize("path", ROW_TEMPLATES, ids=lambda p: p.name)
def test_every_row_template_compiles(path: Path):
    name = path.relative_to(Path(settings.BASE_DIR) / "templates").as_posix()
    assert engines["jinja2"].get_template(name)


def test_the_tag_gives_the_items_and_named_arguments():
    template = Template(
        '{% load rows %}{% rows "customers/_timeline_rows.jinja" items next_follow_up_label=label %}'
    )

    class Item:
        kind, kind_label, channel_label = "call", "Call", ""
        when, author, text = "2026-12-04 10:00", "Wang", "a & b"
        link_label, link_url, next_follow_up = "", None, "2026-12-05"

    out = template.render(Context({"items": [Item()], "label": "Next"}))
    assert "a &amp; b" in out and "Next: 2026-12-05" in out


@pytest.mark.django_db
def test_the_list_and_the_timeline_show_their_rows(client, sales_manager, consultant):
    customer = CustomerFactory(
        name="<i>周冬梅</i>", assigned_consultant=consultant, mobile="13812345678"
    )
    services.interaction_log(
        customer=customer, kind="note", summary="<b>called</b>", actor=consultant
    )
    client.force_login(sales_manager)
    with translation.override("zh-hans"):
        listing = client.get(reverse("customers:customer-list")).content.decode()
        page = client.get(customer.get_absolute_url()).content.decode()
    assert "&lt;i&gt;周冬梅&lt;/i&gt;" in listing and "<i>周冬梅" not in listing
    assert f'href="{customer.get_absolute_url()}"' in listing
    assert consultant.display_name in listing
    assert "&lt;b&gt;called&lt;/b&gt;" in page and "<b>called" not in page
