"""{% translate %} with a constant message is rendered once per language
(crm_site/templatetags/translate_once.py): it must still say what Django's tag says."""

from __future__ import annotations

import pytest
from django.template import Context, Template, engines
from django.templatetags import i18n as django_i18n
from django.utils import translation

from crm_site.templatetags.translate_once import TranslateOnceNode

CASES = [
    '{% translate "Customers" %}',
    "{% trans 'Customers' %}",
    '{% translate "Customers" as label %}[{{ label }}]',
    '{% translate "Customers" noop %}',
    '{% translate "Save & log" %}',
    '{% translate "Save & log" as label %}{{ label }}',
    "{% translate word %}",
    '{% translate "Customers"|upper %}',
    '{% translate "May" context "month name" %}',
    "{% autoescape off %}{% translate 'Save & log' %}{% endautoescape %}",
]


def _django_render(source: str, context: dict) -> str:
    """The same template with Django's own i18n library."""
    engine = engines["django"].engine
    saved = engine.template_libraries["i18n"]
    engine.template_libraries["i18n"] = django_i18n.register
    try:
        return Template("{% load i18n %}" + source).render(Context(context))
    finally:
        engine.template_libraries["i18n"] = saved


@pytest.mark.parametrize("source", CASES)
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_it_renders_what_djangos_tag_renders(source, language):
    ours = Template("{% load i18n %}" + source)
    context = {"word": "Customers"}
    with translation.override(language):
        expected = _django_render(source, context)
        # Twice: the second from what the node kept.
        assert ours.render(Context(context)) == expected
        assert ours.render(Context(context)) == expected


def test_the_language_is_part_of_what_is_kept():
    template = Template('{% load i18n %}{% translate "Customers" %}')
    with translation.override("zh-hans"):
        chinese = template.render(Context())
    with translation.override("en"):
        english = template.render(Context())
    with translation.override("zh-hans"):
        assert template.render(Context()) == chinese
    assert (chinese, english) == ("客户", "Customers")


def test_only_constant_messages_are_kept():
    def node(source: str) -> TranslateOnceNode:
        template = Template("{% load i18n %}" + source)
        return next(n for n in template.nodelist if isinstance(n, TranslateOnceNode))

    assert node('{% translate "Customers" %}').constant
    assert node('{% translate "Customers" as x %}').constant
    assert not node("{% translate word %}").constant
    assert not node('{% translate "Customers"|upper %}').constant
    assert not node('{% translate "May" context "month name" %}').constant


def test_a_variable_message_follows_the_variable():
    template = Template("{% load i18n %}{% translate word %}")
    with translation.override("en"):
        assert template.render(Context({"word": "Customers"})) == "Customers"
        assert template.render(Context({"word": "Stage"})) == "Stage"


def test_only_the_intended_library_name_is_used_twice(monkeypatch):
    """Django's templates.W003 is silenced for the i18n library; crm_site.checks still
    warns about any other name two modules share."""
    from crm_site import checks

    assert checks.template_library_names_check() == []
    real = checks.get_template_tag_modules

    def with_a_clash():
        yield from real()
        yield "money", "elsewhere.templatetags.money"

    monkeypatch.setattr(checks, "get_template_tag_modules", with_a_clash)
    (warning,) = checks.template_library_names_check()
    assert warning.id == "crm_site.W003" and "'money'" in warning.msg
