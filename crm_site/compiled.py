"""Lookups by key whose SQL is compiled once per process.

The customer page reads its customer with one query: four related rows, the tag
names, whether the user may change it, all under the user's scope. Django compiles
that query to SQL on every page view (~1.5 ms of CPU, 100 columns over five tables);
PostgreSQL no longer plans it each time (crm_site.prepared), but Django still writes
it. Only the key changes from one view to the next.

``KeyLookup(queryset)`` compiles ``queryset.filter(pk=<stand-in>)[:1]`` the first time
it is used on a database alias, and remembers the SQL, its parameters and the
compiler's account of the columns (which model and field each one fills). ``get(pk)``
then puts the key in the stand-in's place and lets Django's own iterable read the row
from that SQL: the same instance, related rows and annotations as
``queryset.filter(pk=pk).first()``, without compiling.

The queryset must not change afterwards, and must not depend on anything but what its
owner keys it by (customers.selectors keys it by the user's scopes). The stand-in is a
key no row has; compiling refuses a query in which it does not appear exactly once.
Used by the customer page (customers.selectors.customer_on_page) and by opening day's
claim, for the entry it locks (sales.services.opening).

``SliceRead(queryset, stand_ins)`` does the same for a list's page: the queryset
compiled once with stand-in values (a private-use text, an array holding STAND_IN),
then ``rows(values, low, high)`` reads ``queryset[low:high]`` with the real values in
their places, Django's LIMIT and OFFSET added as Django writes them (the customer
list's first page, customers.selectors.customer_list_page; the customer page's
timeline and further contacts, by the customer's key).
"""

from __future__ import annotations

import copy
import threading
from typing import Any, NamedTuple

from django.db import connections, router
from django.db.models import Model, QuerySet

# No row has it (keys are positive); any other parameter equal to it is refused.
STAND_IN = -7_346_281_905_117_013
# A text no one searches for: private-use characters, so that no parameter but the
# text (or what is made of it on purpose, such as its pairs) can hold them.
TEXT_STAND_IN = "\ue000\ue001"


class Slot(NamedTuple):
    """Where a compiled statement takes the value named ``name``."""

    name: str


def parameter_slots(params, stand_ins: dict[str, Any]) -> tuple:
    """The parameters of SQL compiled with ``stand_ins`` (name: value) for some of
    its values: a Slot where a parameter is a stand-in, the others as they are.

    A text stand-in is made of private-use characters: a parameter that holds one
    without being it was made from that text another way (a LIKE pattern, say) and
    cannot be reused for another text, so it is refused."""
    slots = []
    for param in params:
        name = next((n for n, v in stand_ins.items() if param == v), None)
        if name is not None:
            slots.append(Slot(name))
        elif any(_holds(param, v[0]) for v in stand_ins.values() if isinstance(v, str)):
            raise AssertionError(f"the compiled SQL would take a parameter {param!r}")
        else:
            slots.append(param)
    return tuple(slots)


def filled(slots: tuple, values: dict[str, Any]) -> list:
    """parameter_slots' parameters with the values put in their slots."""
    return [values[slot.name] if isinstance(slot, Slot) else slot for slot in slots]


def _holds(param, char: str) -> bool:
    if isinstance(param, str):
        return char in param
    return isinstance(param, list | tuple) and any(_holds(p, char) for p in param)


class _Compiled:
    """``queryset``'s SQL compiled once per database alias, with Slots where it takes
    the values named in ``stand_ins``; the rows read by Django's own iterable."""

    def __init__(self, queryset: QuerySet, stand_ins: dict[str, Any]) -> None:
        self._queryset = queryset
        self._stand_ins = stand_ins
        self._compiled: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def _compile(self, alias: str) -> tuple:
        with self._lock:
            if alias not in self._compiled:
                compiler = self._queryset.query.get_compiler(alias)
                sql, params = compiler.as_sql()
                slots = parameter_slots(params, self._stand_ins)
                self._check(slots)
                # The compiler keeps what reading the rows needs (its columns, the
                # related models they fill); not its thread's connection.
                compiler.connection = None
                self._compiled[alias] = (compiler, sql, slots)
            return self._compiled[alias]

    def _check(self, slots: tuple) -> None:
        for name in self._stand_ins:
            if Slot(name) not in slots:
                raise AssertionError(f"the compiled SQL takes no {name}")

    def _read(self, alias: str, values: dict[str, Any], suffix: str = "") -> tuple:
        """The rows of the compiled SQL (plus ``suffix``) with ``values`` in their
        slots, and the SQL and parameters run (without the suffix)."""
        compiled = self._compiled.get(alias) or self._compile(alias)
        template, sql, slots = compiled
        params = filled(slots, values)
        compiler = copy.copy(template)
        compiler.connection = connections[alias]
        compiler.as_sql = lambda *args, **kwargs: (sql + suffix, params)
        queryset = self._queryset.using(alias)
        queryset.query.get_compiler = lambda *args, **kwargs: compiler
        return list(queryset), sql, params


class KeyLookup(_Compiled):
    """One row of ``queryset`` by its primary key, the SQL compiled once per alias."""

    def __init__(self, queryset: QuerySet) -> None:
        super().__init__(queryset.filter(pk=STAND_IN)[:1], {"pk": STAND_IN})

    def _check(self, slots: tuple) -> None:
        keys = slots.count(Slot("pk"))
        if keys != 1:
            raise AssertionError(f"the key appears {keys} times in the lookup's SQL")

    def get(self, pk: int) -> Model | None:
        """The row whose key is ``pk``, or None when the queryset has no such row."""
        model = self._queryset.model
        alias = router.db_for_read(model)
        low, high = connections[alias].ops.integer_field_range(
            model._meta.pk.get_internal_type()
        )
        if not low <= int(pk) <= high:
            # No such row, as the ORM says of a key out of the column's range.
            return None
        rows, _sql, _params = self._read(alias, {"pk": int(pk)})
        return rows[0] if rows else None


class SliceRead(_Compiled):
    """A slice of ``queryset`` (ordered, not sliced) with values in the places of its
    ``stand_ins``, the SQL compiled once per alias: a list's page."""

    def rows(
        self, values: dict[str, Any], low: int = 0, high: int | None = None
    ) -> tuple[list[Model], str, list]:
        """Rows ``low`` to ``high`` (as ``queryset[low:high]``; all by default) with
        ``values``, and the SQL (without its LIMIT and OFFSET) and parameters that
        read them."""
        alias = router.db_for_read(self._queryset.model)
        limits = connections[alias].ops.limit_offset_sql(low, high)
        return self._read(alias, values, f" {limits}" if limits else "")
