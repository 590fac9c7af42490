"""{% url %} with a constant name and no arguments, reversed once per process
(crm_site/templatetags/url_once.py): the URL Django's tag gives, in every template."""

from __future__ import annotations

from django.template import Context, engines
from django.urls import reverse, set_script_prefix

from crm_site.templatetags.url_once import ConstantURLNode


def _render(text: str, **context) -> str:
    return engines["django"].from_string(text).render(context)


def test_a_constant_url_is_the_one_django_reverses():
    assert _render("{% url 'customers:customer-list' %}") == reverse(
        "customers:customer-list"
    )
    assert _render('{% url "customers:customer-list" %}') == reverse(
        "customers:customer-list"
    )


def test_only_a_constant_name_without_arguments_is_remembered():
    template = engines["django"].from_string(
        "{% url 'customers:customer-list' %}"
        "{% url 'customers:customer-detail' 5 %}"
        "{% url name %}"
        "{% url 'customers:customer-list' as here %}[{{ here }}]"
    )
    kinds = [type(node).__name__ for node in template.template.nodelist]
    assert kinds[0] == ConstantURLNode.__name__
    assert ConstantURLNode.__name__ not in kinds[1:]
    rendered = template.render({"name": "customers:customer-create"})
    assert rendered == (
        reverse("customers:customer-list")
        + reverse("customers:customer-detail", args=[5])
        + reverse("customers:customer-create")
        + f"[{reverse('customers:customer-list')}]"
    )


def test_a_constant_url_follows_the_script_prefix():
    try:
        set_script_prefix("/crm/")
        assert _render("{% url 'customers:customer-list' %}").startswith(
            "/crm/customers/"
        )
    finally:
        set_script_prefix("/")
    assert _render("{% url 'customers:customer-list' %}").startswith("/customers/")


def test_a_constant_url_is_escaped_as_django_escapes_it():
    template = engines["django"].from_string("{% url 'customers:customer-list' %}")
    node = template.template.nodelist[0]
    assert node.render(Context(autoescape=False)) == reverse("customers:customer-list")
