"""Every URL of the site with real object ids, for the fuzz pass.

A minimal resolver walk: each URL pattern's keyword arguments are filled from
the first row of the model that the URL's name points at (``OBJECT_OF``).
A URL whose object does not exist gets id 1 and is still fuzzed (a 404 is fine).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse

# Namespaces left out: the Django admin is Django's own code.
SKIPPED_NAMESPACES = {"admin"}
# Logging out would end the fuzzing session.
SKIPPED_NAMES = {"logout"}

# (url name, kwarg) -> "app_label.Model"; "*" matches any url name.
OBJECT_OF: dict[tuple[str, str], str] = {
    ("*", "customer_pk"): "customers.Customer",
    ("*", "point_pk"): "customers.ContactPoint",
    ("*", "filter_pk"): "customers.SavedFilter",
    ("*", "job_pk"): "customers.ImportJob",
    ("*", "pair_pk"): "customers.DuplicatePair",
    ("*", "merge_pk"): "customers.MergeRecord",
    ("*", "photo_pk"): "service.RequestPhoto",
    ("*", "slot_pk"): "service.HandoverSlot",
    ("*", "article_pk"): "service.Article",
    ("notification-open", "pk"): "crm_site.Notification",
    ("customers:*", "pk"): "customers.Customer",
    ("marketing:segment-", "pk"): "marketing.Segment",
    ("marketing:campaign-", "pk"): "marketing.Campaign",
    ("marketing:cost-line-add", "pk"): "marketing.Campaign",
    ("marketing:deal-campaign", "pk"): "sales.Opportunity",
    ("marketing:referral-", "pk"): "marketing.Referral",
    ("marketing:reward-", "pk"): "marketing.Referral",
    ("marketing:partner-", "pk"): "marketing.ChannelPartner",
    ("marketing:broker-add", "pk"): "marketing.ChannelPartner",
    ("marketing:commission-pay", "pk"): "marketing.Commission",
    ("sales:building-", "pk"): "sales.Building",
    ("sales:price-plan", "pk"): "sales.Building",
    ("sales:unit-", "pk"): "sales.Unit",
    ("sales:approval-decide", "pk"): "sales.DiscountRequest",
    ("sales:deal-change-decide", "pk"): "sales.DealChange",
    ("sales:registration-reassign", "pk"): "sales.Registration",
    ("sales:project-rules", "pk"): "sales.Project",
    ("sales:*", "pk"): "sales.Opportunity",
    ("service:request-", "pk"): "service.ServiceRequest",
    ("service:work-order-create", "pk"): "service.ServiceRequest",
    ("service:article-use", "pk"): "service.ServiceRequest",
    ("service:work-order-", "pk"): "service.WorkOrder",
    ("service:contractor-", "pk"): "service.Contractor",
    ("service:chargeback-create", "pk"): "service.Contractor",
    ("service:chargeback-", "pk"): "service.Chargeback",
    ("service:article-", "pk"): "service.Article",
    ("service:handover-appointment", "pk"): "service.HandoverAppointment",
    ("service:handover-book", "pk"): "service.HandoverAppointment",
    ("service:inspection-photo", "pk"): "service.InspectionItem",
    ("service:inspection-", "pk"): "service.HandoverAppointment",
    ("service:handover-complete", "pk"): "service.HandoverAppointment",
    ("service:handover-", "pk"): "service.HandoverBatch",
}

# String arguments: a plausible value (tokens are fuzzed with garbage anyway).
STRING_VALUES = {
    "status": "active",
    "document": "confirmation",
    "token": "not-a-token",
}


@dataclass(frozen=True)
class Target:
    name: str
    path: str


def _model_for(name: str, kwarg: str) -> str | None:
    namespace = name.split(":")[0] + ":*" if ":" in name else ""
    for (pattern, key), model in OBJECT_OF.items():
        if key != kwarg:
            continue
        if pattern in ("*", name, namespace) or (
            pattern.endswith("-") and name.startswith(pattern)
        ):
            return model
    return None


def _first_id(label: str | None) -> int:
    if label is None:
        return 1
    try:
        model = apps.get_model(label)
    except LookupError:
        return 1
    return model.objects.order_by("pk").values_list("pk", flat=True).first() or 1


def _patterns(
    resolver: URLResolver, namespace: str = ""
) -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace or ""
            if inner in SKIPPED_NAMESPACES:
                continue
            yield from _patterns(entry, f"{namespace}{inner}:" if inner else namespace)
        elif entry.name:
            yield f"{namespace}{entry.name}", entry


def targets() -> list[Target]:
    """One URL per named pattern, kwargs filled with real ids."""
    found: list[Target] = []
    for name, pattern in _patterns(get_resolver()):
        if name in SKIPPED_NAMES:
            continue
        kwargs = {}
        for kwarg, converter in pattern.pattern.converters.items():
            if type(converter).__name__ == "IntConverter":
                kwargs[kwarg] = _first_id(_model_for(name, kwarg))
            else:
                kwargs[kwarg] = STRING_VALUES.get(kwarg, "x")
        found.append(Target(name=name, path=reverse(name, kwargs=kwargs)))
    return found
