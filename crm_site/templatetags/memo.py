"""{% memo "name" a b c %}…{% endmemo %}: a piece of a page rendered once per process
for each combination of the values it varies on, like Django's ``{% cache %}`` but
without a round trip to the cache server (the page header every page shows costs a
few thousand Python calls to render and is the same for every page of a user).

Its vary-on values must name everything the piece shows except two things that change
from request to request and are put in after rendering, so that no cached piece ever
carries one request's:

- CSRF token: ``{% csrf_token %}`` and ``{{ csrf_token }}`` inside the piece;
- path: ``{{ request.get_full_path }}`` inside the piece (the language switch's
  "next").

The language is always part of the key. The code and the translations that render the
piece change only with a new process, so nothing stale is shown; the memo holds at most
``MAX_ENTRIES`` pieces and starts again when full.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import conditional_escape
from django.utils.translation import get_language

register = template.Library()

MAX_ENTRIES = 4096
_CSRF_MARK = "memo0csrf0mark"
_PATH_MARK = "memo0path0mark"
_pieces: dict[tuple, str] = {}


class _RequestForMemo:
    """The request as a memoised piece sees it: its full path is a mark."""

    def __init__(self, request: Any) -> None:
        self._request = request

    def get_full_path(self) -> str:
        return _PATH_MARK

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


def _hashable(value: Any) -> Any:
    # Lazy values (a translated label, the bell's count) by what they show.
    if value is None or isinstance(value, (bool, int, str, tuple)):
        return value
    return str(value)


class MemoNode(template.Node):
    def __init__(self, nodelist: template.NodeList, vary_on: list) -> None:
        self.nodelist = nodelist
        self.vary_on = vary_on

    def render(self, context: template.Context) -> str:
        token = context.get("csrf_token")
        if token is None or str(token) == "NOTPROVIDED":
            # Rendered outside a request (no token to put in): render as it is.
            return self.nodelist.render(context)
        key = (get_language(), *(_hashable(v.resolve(context)) for v in self.vary_on))
        piece = _pieces.get(key)
        if piece is None:
            request = context.get("request")
            with context.push(
                csrf_token=_CSRF_MARK,
                request=_RequestForMemo(request) if request is not None else None,
            ):
                piece = self.nodelist.render(context)
            if len(_pieces) >= MAX_ENTRIES:
                _pieces.clear()
            _pieces[key] = piece
        if _CSRF_MARK in piece:
            piece = piece.replace(_CSRF_MARK, conditional_escape(str(token)))
        if _PATH_MARK in piece:
            request = context.get("request")
            path = request.get_full_path() if request is not None else ""
            piece = piece.replace(_PATH_MARK, conditional_escape(path))
        return piece


@register.tag
def memo(parser: template.base.Parser, token: template.base.Token) -> MemoNode:
    bits = token.split_contents()
    if len(bits) < 2:
        raise template.TemplateSyntaxError("'memo' needs a name and its vary-on values")
    nodelist = parser.parse(("endmemo",))
    parser.delete_first_token()
    return MemoNode(nodelist, [parser.compile_filter(bit) for bit in bits[1:]])
