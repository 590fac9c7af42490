"""Signals customers sends so the other apps can follow a merge in their own code.

customer_merged(sender=Customer, survivor, absorbed, record): each receiver moves its
rows from the absorbed customer to the survivor and returns {"app_label.model": [ids]}
of what it moved; the merge record keeps that, so a restore can move them back.

customer_merge_restored(sender=Customer, survivor, absorbed, record, moved): each receiver
moves the listed rows of its own models back to the absorbed customer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.dispatch import Signal

customer_merged = Signal()
customer_merge_restored = Signal()

# interaction_logged(sender=Interaction, interaction): a touch point landed on a timeline.
# Sales renews ownership protection on real follow-ups.
interaction_logged = Signal()


# rows(absorbed, survivor) -> the queryset of rows that follow the merge
Rows = Callable[[Any, Any], QuerySet]


def _point(model, ids: list[int], field: str, customer, actor) -> None:
    """Point rows at a customer; rows whose changes are audited record the move."""
    rows = model._base_manager.filter(pk__in=ids)
    if hasattr(model, "AUDITED_FIELDS"):
        from crm_site.audit import audited_update

        audited_update(rows, actor=actor, **{field: customer})
    else:
        rows.update(**{field: customer})


def follow_merges(app: str, moves: list[tuple[str, Rows, str]]) -> None:
    """Connect an app's receivers for both signals from a declaration.

    ``moves``: (key in the merge record, rows, the field pointing at the customer).
    On a merge each set of rows is pointed at the survivor and its ids returned; on
    undo the rows listed under each key are pointed back at the absorbed customer.
    """

    def merged(sender, *, survivor, absorbed, record, **kwargs) -> dict[str, list[int]]:
        moved: dict[str, list[int]] = {}
        for key, rows, field in moves:
            queryset = rows(absorbed, survivor)
            ids = sorted(queryset.values_list("pk", flat=True))
            if ids:
                _point(queryset.model, ids, field, survivor, record.merged_by)
                moved[key] = ids
        return moved

    def restored(
        sender, *, survivor, absorbed, moved, **kwargs
    ) -> dict[str, list[int]]:
        back: dict[str, list[int]] = {}
        for key, rows, field in moves:
            if moved.get(key):
                model = rows(absorbed, survivor).model
                _point(model, moved[key], field, absorbed, kwargs.get("actor"))
                back[key] = moved[key]
        return back

    customer_merged.connect(merged, weak=False, dispatch_uid=f"{app}.merged")
    customer_merge_restored.connect(
        restored, weak=False, dispatch_uid=f"{app}.restored"
    )
