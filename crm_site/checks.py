"""Checks of our own settings (``manage.py check``, some with ``--deploy``)."""

from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.template.backends.django import get_template_tag_modules


@register(Tags.security, deploy=True)
def id_number_hash_key_check(app_configs=None, **kwargs) -> list[Error]:
    key = settings.ID_NUMBER_HASH_KEY
    if key == settings.SECRET_KEY or key.startswith("insecure-development"):
        return [
            Error(
                "ID_NUMBER_HASH_KEY must be its own random value, not the secret key "
                "or the development key.",
                id="crm_site.E001",
            )
        ]
    return []


# The i18n template library is ours on purpose (TEMPLATES' "libraries":
# crm_site/templatetags/translate_once.py). Django's templates.W003 would warn about that
# name, so it is silenced in settings, and this check warns as it did for any other.
INTENDED_LIBRARIES = {
    "i18n": {"django.templatetags.i18n", "crm_site.templatetags.translate_once"}
}


@register(Tags.templates)
def template_library_names_check(app_configs=None, **kwargs) -> list[Warning]:
    from django.template import engines
    from django.template.backends.django import DjangoTemplates

    errors = []
    for engine in engines.all():
        if not isinstance(engine, DjangoTemplates):
            continue
        libraries: dict[str, set[str]] = defaultdict(set)
        for name, path in get_template_tag_modules():
            libraries[name].add(path)
        for name, path in engine.engine.libraries.items():
            libraries[name].add(path)
        for name, paths in sorted(libraries.items()):
            if len(paths) > 1 and paths != INTENDED_LIBRARIES.get(name):
                errors.append(
                    Warning(
                        f"{name!r} is used for multiple template tag modules: "
                        f"{', '.join(sorted(paths))}",
                        obj=engine,
                        id="crm_site.W003",
                    )
                )
    return errors
