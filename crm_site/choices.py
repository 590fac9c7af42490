"""``get_FOO_display()`` without rebuilding the choices on every call.

Django's ``Model._get_FIELD_display`` builds ``dict(make_hashable(field.flatchoices))``
on each call, and hashing a lazily translated label translates it: a list row that
shows a stage and a source translated every label of both fields again, some 400
gettext calls on a page of 25 customers (a tenth of the customer list's CPU). Here the
value → label map is built once per field; the label stays lazy and is translated
once, when shown, in the reader's language.

``install()`` (from ``CrmSiteConfig.ready``) replaces the generated ``get_FOO_display``
of our own models' fields whose choices are a fixed list; callable choices and a model
that defines its own ``get_FOO_display`` keep Django's.
"""

from __future__ import annotations

from functools import partialmethod
from typing import Any

from django.apps import apps
from django.db import models
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable

OUR_APPS = {"crm_site", "customers", "sales", "service", "marketing"}


def _labels(field: models.Field) -> dict[Any, Any]:
    labels = field.__dict__.get("_crm_display_labels")
    if labels is None:
        labels = {make_hashable(value): label for value, label in field.flatchoices}
        field._crm_display_labels = labels  # type: ignore[attr-defined]
    return labels


def _get_field_display(self: models.Model, field: models.Field) -> str:
    value = getattr(self, field.attname)
    try:
        label = _labels(field).get(make_hashable(value), value)
    except TypeError:  # an unhashable value: Django's own way
        return models.Model._get_FIELD_display(self, field)
    return force_str(label, strings_only=True)


def _fixed_choices(field: models.Field) -> bool:
    return isinstance(getattr(field, "choices", None), (list, tuple))


def install() -> None:
    for model in apps.get_models():
        if model._meta.app_label not in OUR_APPS:
            continue
        for field in model._meta.concrete_fields:
            if not field.choices or not _fixed_choices(field):
                continue
            name = f"get_{field.name}_display"
            current = model.__dict__.get(name)
            # Only the method Django generated for this very field is replaced.
            if (
                isinstance(current, partialmethod)
                and current.func is models.Model._get_FIELD_display
                and current.keywords.get("field") is field
            ):
                setattr(model, name, partialmethod(_get_field_display, field=field))
