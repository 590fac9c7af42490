"""Django's ``{% url %}`` with a constant name and no arguments remembered per process
(crm_site.reversing.cached_reverse): added to the template engine's builtins in
settings, after Django's own, so every template gets it.

Django's URL node reverses on every render (~25 µs); the customer list's page, its
searches included, renders eleven such links. A URL with arguments, a name from a
variable or filter, and ``{% url … as var %}`` render as Django renders them.
"""

from __future__ import annotations

from django import template
from django.template.defaulttags import URLNode
from django.template.defaulttags import url as django_url
from django.utils.html import conditional_escape

from crm_site.reversing import cached_reverse

register = template.Library()


class ConstantURLNode(URLNode):
    def render(self, context: template.Context) -> str:
        url = cached_reverse(self.view_name.var)
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser, token) -> URLNode:
    node = django_url(parser, token)
    name = node.view_name
    if (
        isinstance(name.var, str)
        and not name.filters
        and not node.args
        and not node.kwargs
        and node.asvar is None
    ):
        return ConstantURLNode(name, node.args, node.kwargs, node.asvar)
    return node
