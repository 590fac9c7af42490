"""Django's i18n template library with ``{% translate "constant" %}`` worked out once
per process for each language: registered as the ``i18n`` library in settings
(TEMPLATES' "libraries"), so every ``{% load i18n %}`` gets it and makemessages still
reads the same tags.

A constant ``{% translate %}`` costs some 80 Python calls each time it renders (a lazy
translation made, cast, localised and escaped); a page shows 25 to 40 of them. The
translated text depends only on the message, the active language and whether the
context escapes, and a process's catalogs do not change (a deploy restarts the
workers), so the node keeps what it rendered for each. Everything else (a variable, a
filter, a message context) renders as Django renders it, every time.
"""

from __future__ import annotations

from django import template
from django.templatetags import i18n as django_i18n
from django.utils.translation import get_language

register = template.Library()
register.tags.update(django_i18n.register.tags)
register.filters.update(django_i18n.register.filters)


class TranslateOnceNode(django_i18n.TranslateNode):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        expression = self.filter_expression
        self.constant = (
            self.message_context is None
            and not expression.filters
            and isinstance(expression.var, template.Variable)
            and expression.var.lookups is None
        )
        self.rendered: dict[tuple[str | None, bool], str] = {}

    def render(self, context: template.Context) -> str:
        if not self.constant:
            return super().render(context)
        key = (get_language(), context.autoescape)
        value = self.rendered.get(key)
        if value is None:
            value = super().render(context)
            if self.asvar:
                value = context[self.asvar]
            self.rendered[key] = value
        if self.asvar:
            context[self.asvar] = value
            return ""
        return value


@register.tag("translate")
@register.tag("trans")
def do_translate(parser, token) -> TranslateOnceNode:
    node = django_i18n.do_translate(parser, token)
    return TranslateOnceNode(
        node.filter_expression, node.noop, node.asvar, node.message_context
    )
