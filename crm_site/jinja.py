"""The Jinja2 environment for the loops that print many rows on the busiest pages.

Django's template engine resolves every ``{{ row.name }}`` through its generic lookup
(dictionary, attribute, index, callable) at each cell: the customer list's 25 rows cost
about 1.4 ms to print, the same loop compiled to Python by Jinja2 about 0.3 ms
(issue 13). The rows are worked out in Python beforehand (``CustomerRow``,
``TimelineRow``), so a row template only prints attributes; the page around it stays a
Django template and calls it with ``{% rows "app/_x_rows.jinja" items %}``
(crm_site.templatetags.rows).

What a row template may do is deliberately little:

- no translation: it has no ``_()`` or ``{% trans %}`` (makemessages does not read
  ``.jinja`` files); every label comes translated in the rows or as an argument;
- no undefined names: ``StrictUndefined`` makes a misspelt attribute an error in
  tests instead of an empty cell;
- autoescaping on, as in Django templates; Django's safe strings stay unescaped;
- ``submission_token()`` prints a form's one-time token as ``{% submission_token %}``
  does; the CSRF token is passed in (``csrf_token=csrf_token``), the same for the page.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, StrictUndefined


def environment(**options: Any) -> Environment:
    from crm_site.templatetags.submit_once import submission_token

    options["undefined"] = StrictUndefined
    options["autoescape"] = True
    env = Environment(**options)
    # {% submission_token %} of a row's form: a new one-time token per call.
    env.globals["submission_token"] = submission_token
    return env
