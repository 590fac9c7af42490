"""Signals customers sends so the other apps can follow a merge in their own code.

customer_merged(sender=Customer, survivor, absorbed, record): each receiver moves its
rows from the absorbed customer to the survivor and returns {"app_label.model": [ids]}
of what it moved; the merge record keeps that, so a restore can move them back. A rule
that does more than move rows (ends a registration, writes history) keeps what it needs
to undo that in ``record.details[relation]``, saved with the record.

customer_merge_restored(sender=Customer, survivor, absorbed, record, moved, actor): each
receiver moves the listed rows of its own models back to the absorbed customer.

Apps do not connect these by hand: they declare, with ``follow_merges``, what a merge
does with every relation they have to Customer — moved, merged by a rule, or kept with
the reason — and the declarations are kept in one registry that a test compares with
the model registry, so a new relation nobody thought about fails the build.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from django.apps import apps
from django.db.models import Model, QuerySet
from django.dispatch import Signal

customer_merged = Signal()
customer_merge_restored = Signal()

# interaction_logged(sender=Interaction, interaction): a touch point landed on a timeline.
# Sales renews ownership protection on real follow-ups.
interaction_logged = Signal()


# rows(absorbed, survivor) -> the queryset of rows that follow the merge
Rows = Callable[[Any, Any], QuerySet]
# merge(survivor=, absorbed=, record=) -> ({key: [ids moved]}, state for the undo)
MergeRule = Callable[..., tuple[dict[str, list[int]], dict[str, Any]]]
# restore(survivor=, absorbed=, record=, moved=, state=, actor=) -> None
RestoreRule = Callable[..., None]


class MergeKind(StrEnum):
    MOVED = "moved"  # every row goes to the survivor
    MERGED = "merged"  # rows are combined by a rule (uniqueness, protection)
    KEPT = "kept"  # rows stay where they are, for the reason given


@dataclass(frozen=True)
class Follow:
    """One relation to Customer and what a merge does with it.

    ``relation`` is ``"app_label.model.field"`` (a ForeignKey, OneToOneField or
    ManyToManyField whose rows point at a customer). ``rows`` selects the rows that go
    to the survivor (a merged relation leaves the others on the absorbed customer); a
    merged relation with a ``merge`` rule does the work itself and undoes it in
    ``restore``, given the state it returned.
    """

    relation: str
    kind: MergeKind
    reason: str = ""
    rows: Rows | None = None
    key: str = ""
    merge: MergeRule | None = None
    restore: RestoreRule | None = None
    app: str = field(default="", compare=False)

    @property
    def model_label(self) -> str:
        return self.relation.rsplit(".", 1)[0]

    @property
    def field_name(self) -> str:
        return self.relation.rsplit(".", 1)[1]

    def model(self) -> type[Model]:
        return apps.get_model(self.model_label)


def _point(model, ids: list[int], field: str, customer, actor) -> None:
    """Point rows at a customer; rows whose changes are audited record the move."""
    rows = model._base_manager.filter(pk__in=ids)
    if hasattr(model, "AUDITED_FIELDS"):
        from crm_site.audit import audited_update

        audited_update(rows, actor=actor, **{field: customer})
    else:
        rows.update(**{field: customer})


def _all_rows(relation: str) -> Rows:
    label, name = relation.rsplit(".", 1)

    def rows(absorbed, survivor) -> QuerySet:
        return apps.get_model(label)._default_manager.filter(**{name: absorbed})

    return rows


def moved(relation: str, *, rows: Rows | None = None, key: str = "") -> Follow:
    """Every row of the relation goes to the survivor (and back on undo)."""
    return Follow(
        relation=relation,
        kind=MergeKind.MOVED,
        rows=rows or _all_rows(relation),
        key=key or relation.rsplit(".", 1)[0],
    )


def merged(
    relation: str,
    *,
    rule: str,
    rows: Rows | None = None,
    merge: MergeRule | None = None,
    restore: RestoreRule | None = None,
    key: str = "",
) -> Follow:
    """Rows combined by ``rule``: either ``rows`` picks those that move (the others
    stay on the absorbed customer, where an undo finds them), or ``merge`` and
    ``restore`` do the work. With neither, the merge service itself applies the rule
    (only for Customer's own fields, such as its tags)."""
    if (rows is not None and merge is not None) or (merge is None) != (restore is None):
        raise ValueError(f"{relation}: give either rows, or merge and restore")
    return Follow(
        relation=relation,
        kind=MergeKind.MERGED,
        reason=rule,
        rows=rows,
        merge=merge,
        restore=restore,
        key=key or relation.rsplit(".", 1)[0],
    )


def kept(relation: str, *, reason: str) -> Follow:
    """The rows stay where they are; ``reason`` says why nothing is lost."""
    return Follow(relation=relation, kind=MergeKind.KEPT, reason=reason)


# relation -> its declaration; filled by follow_merges from each app's ready().
_DECLARATIONS: dict[str, Follow] = {}


def merge_declarations() -> dict[str, Follow]:
    """Every declared relation to Customer, by ``"app_label.model.field"``."""
    return dict(_DECLARATIONS)


def customer_relations(registry: Any = None) -> list[str]:
    """Every relation to Customer in the model registry, as ``app_label.model.field``:
    foreign keys, one-to-ones and many-to-manys of every app (Customer's own included;
    an auto-created many-to-many table is named by its field)."""
    from customers.models import Customer

    found: set[str] = set()
    for model in (registry or apps).get_models():
        if model._meta.proxy:
            continue  # its rows are the concrete model's
        for f in model._meta.get_fields():
            if not (f.is_relation and f.concrete):
                continue
            if f.related_model is Customer or (model is Customer and f.many_to_many):
                found.add(f"{model._meta.label_lower}.{f.name}")
    return sorted(found)


def _legacy(entry: tuple[str, Rows, str]) -> Follow:
    """The first form of a declaration, (record key, rows, field): a moved relation."""
    key, rows, name = entry
    label = key
    try:
        apps.get_model(key)
    except (LookupError, ValueError):
        label = key.rsplit(".", 1)[0]
    return moved(f"{label}.{name}", rows=rows, key=key)


def _check(app: str, follow: Follow) -> Follow:
    from customers.models import Customer

    if follow.model_label.split(".")[0] != app:
        raise ValueError(f"{app} declares {follow.relation}, which is not its own")
    f = follow.model()._meta.get_field(follow.field_name)
    if not f.is_relation or (
        f.related_model is not Customer and follow.model() is not Customer
    ):
        raise ValueError(f"{follow.relation} is not a relation to Customer")
    if follow.kind != MergeKind.MOVED and not follow.reason:
        raise ValueError(f"{follow.relation}: say why ({follow.kind})")
    if (
        follow.kind == MergeKind.MERGED
        and follow.rows is None
        and follow.merge is None
        and follow.model() is not Customer
    ):
        raise ValueError(f"{follow.relation}: say how the rows are merged")
    if follow.kind == MergeKind.MOVED and f.many_to_many:
        raise ValueError(f"{follow.relation}: a many-to-many is merged by a rule")
    return replace(follow, app=app)


def follow_merges(app: str, declarations: Iterable[Follow | tuple]) -> None:
    """Declare what a merge does with each of an app's relations to Customer, and
    connect the app's receivers for both signals.

    On a merge the declarations run in order: moved rows are pointed at the survivor
    and their ids returned under the declaration's key; a merge rule returns its ids
    and keeps its state in ``record.details``. On undo they run in reverse order.
    Declaring again (a second ``ready()``) replaces the app's declarations.
    """
    follows = [
        _check(app, d if isinstance(d, Follow) else _legacy(d)) for d in declarations
    ]
    keys = [f.key for f in follows if f.kind != MergeKind.KEPT]
    if len(keys) != len(set(keys)):
        raise ValueError(f"{app}: two declarations share a merge record key")
    for relation in [r for r, f in _DECLARATIONS.items() if f.app == app]:
        del _DECLARATIONS[relation]
    for follow in follows:
        if follow.relation in _DECLARATIONS:
            raise ValueError(f"{follow.relation} is declared twice")
        _DECLARATIONS[follow.relation] = follow
    acting = [f for f in follows if f.kind != MergeKind.KEPT]

    def merged_receiver(
        sender, *, survivor, absorbed, record, **kwargs
    ) -> dict[str, list[int]]:
        result: dict[str, list[int]] = {}
        for follow in acting:
            if follow.rows is None and follow.merge is None:
                continue
            if follow.merge is not None:
                ids, state = follow.merge(
                    survivor=survivor, absorbed=absorbed, record=record
                )
                result.update({k: sorted(v) for k, v in ids.items() if v})
                if state:
                    record.details = {**(record.details or {}), follow.relation: state}
                continue
            queryset = follow.rows(absorbed, survivor)
            pks = sorted(queryset.values_list("pk", flat=True))
            if pks:
                _point(
                    queryset.model, pks, follow.field_name, survivor, record.merged_by
                )
                result[follow.key] = pks
        return result

    def restored_receiver(
        sender, *, survivor, absorbed, record, moved, **kwargs
    ) -> dict[str, list[int]]:
        back: dict[str, list[int]] = {}
        for follow in reversed(acting):
            if follow.rows is None and follow.restore is None:
                continue
            if follow.restore is not None:
                follow.restore(
                    survivor=survivor,
                    absorbed=absorbed,
                    record=record,
                    moved=moved,
                    state=(record.details or {}).get(follow.relation, {}),
                    actor=kwargs.get("actor"),
                )
                continue
            if moved.get(follow.key):
                _point(
                    follow.model(),
                    moved[follow.key],
                    follow.field_name,
                    absorbed,
                    kwargs.get("actor"),
                )
                back[follow.key] = moved[follow.key]
        return back

    customer_merged.connect(merged_receiver, weak=False, dispatch_uid=f"{app}.merged")
    customer_merge_restored.connect(
        restored_receiver, weak=False, dispatch_uid=f"{app}.restored"
    )
