"""A queryset that reads its model's rows from other queries instead of its table.

``read_from(queryset, *sources)`` is ``queryset`` with its table in FROM replaced by
``((source 1) UNION ALL (source 2) …) AS <the table's alias>``: its filters, joins,
annotations and ordering then apply to the rows the sources return. Each source is a
plain queryset of the same model (every column of its table, no annotation selected),
ordered and sliced as it likes; the caller makes sure no row comes from two of them.
PostgreSQL knows no key of such rows, so it refuses an aggregate grouped by them
(``annotate(n=Count(…))``): group over their keys instead
(``Model.objects.filter(pk__in=derived.values("pk")).annotate(…)``). Such a queryset
only reads: ``UPDATE`` and ``DELETE`` name the table itself, where the sources' choice
of rows would be lost, so ``update()`` and ``delete()`` are refused; change the rows
through their keys the same way.

Why: a search by name finds the newest thousand customers whose name holds the text
through an index of the names' pairs of characters, reading each of those rows from
the table as it goes. The list then read the same rows a second time, one primary-key
probe each, to apply the user's scope, rank them and keep a page: a third of
PostgreSQL's time on a common name (customers.querysets.CustomerQuerySet.search).
Read from the lookup's own rows, the scope and the rank apply to what the lookup has
already read.
"""

from __future__ import annotations

import functools

from django.db.models import QuerySet
from django.db.models.sql.datastructures import BaseTable


class _Derived(BaseTable):
    """The base table of a query, written as its sources' rows under its alias."""

    def __init__(self, table_name: str, alias: str, sources: tuple) -> None:
        super().__init__(table_name, alias)
        self.sources = sources

    def as_sql(self, compiler, connection):
        parts, params = [], []
        for source in self.sources:
            sql, source_params = source.get_compiler(connection=connection).as_sql()
            parts.append(f"({sql})")
            params.extend(source_params)
        # Written as the query refers to it: quoted when it is the table's name,
        # bare when Django relabelled it (V0, ... in a subquery).
        alias = compiler.quote_name_unless_alias(self.table_alias)
        return f"({' UNION ALL '.join(parts)}) {alias}", params

    def relabeled_clone(self, change_map):
        alias = change_map.get(self.table_alias, self.table_alias)
        return self.__class__(self.table_name, alias, self.sources)

    @property
    def identity(self):
        return self.__class__, self.table_name, self.table_alias, id(self.sources)


class DerivedRowsAreReadOnly(TypeError):
    pass


def _refused(self, *args, **kwargs):
    raise DerivedRowsAreReadOnly(
        "rows read from other queries are changed through their keys: "
        'Model.objects.filter(pk__in=derived.values("pk"))'
    )


@functools.cache
def _read_only(cls: type) -> type:
    """``cls`` (a QuerySet class) refusing to change rows; its clones keep it."""
    return type(
        f"Derived{cls.__name__}",
        (cls,),
        dict.fromkeys(("update", "_update", "delete", "_raw_delete"), _refused),
    )


def read_from(queryset: QuerySet, *sources: QuerySet) -> QuerySet:
    """``queryset`` reading its rows from ``sources`` (see the module)."""
    for source in sources:
        if source.model is not queryset.model or source.query.combinator:
            raise ValueError("a source is a plain queryset of the same model")
        if source.query.annotation_select or source.query.values_select:
            raise ValueError("a source selects its table's columns, nothing else")
    derived = queryset.all()
    derived.__class__ = _read_only(type(queryset))
    query = derived.query
    # The base table's alias: the first of the query's tables.
    alias = query.base_table if query.alias_map else query.get_initial_alias()
    table = query.alias_map[alias]
    query.alias_map[alias] = _Derived(
        table.table_name, alias, tuple(s.query for s in sources)
    )
    return derived
