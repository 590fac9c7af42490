"""``field__any_of=[...]``: ``field = ANY(%s)`` with the whole list as one parameter.

A team scope filters by the ids of everyone in the team, which on a large sales office
is hundreds of ids. ``__in`` turns each into its own parameter and prepares every one
in Python, once per queryset (up to 20 ms a page for a team of 200, whose ids appear
in two clauses, twice on the customer page). PostgreSQL plans ``= ANY(array)`` exactly as it plans ``IN (...)``; the list is
adapted by the driver in one go.

Pass the ids as ``IdArray(ids)`` (or a set): the ORM walks a list or tuple value item
by item before any lookup sees it, which is most of the cost.
"""

from __future__ import annotations

from django.db.models import CharField, Field, ForeignObject, Lookup, TextField


class IdArray:
    """Ids for ``__any_of``: one value to the ORM, an array to PostgreSQL."""

    __slots__ = ("ids",)

    def __init__(self, ids) -> None:
        self.ids = [int(i) for i in ids]

    def __repr__(self) -> str:
        return f"IdArray({self.ids!r})"


@Field.register_lookup
@ForeignObject.register_lookup
class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        ids = value.ids if isinstance(value, IdArray) else [int(v) for v in value]
        return "%s", [ids]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs}::bigint[])", [*lhs_params, *rhs_params]


@CharField.register_lookup
@TextField.register_lookup
class Extends(Lookup):
    """``name__extends=text``: the value starts with ``text`` and goes on after it.

    Written as a range on the byte order of the pattern operators (``~>~``, ``~<~``),
    which an index of the column's ``varchar_pattern_ops`` (``text_pattern_ops``)
    reads whatever the text, also in a statement prepared with the text as a
    parameter: ``LIKE %s`` takes the index only when the planner sees the pattern.
    The bound is the text followed by U+10FFFF, the largest code point: a value that
    goes on with that very character is past it (a private-use character no name
    holds). The text is one parameter as it is, no pattern made of it, so SQL
    compiled with a stand-in text takes any other (crm_site.compiled)."""

    lookup_name = "extends"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        sql = f"({lhs}::text ~>~ {rhs} AND {lhs}::text ~<~ ({rhs} || chr(1114111)))"
        return sql, [*lhs_params, *rhs_params, *lhs_params, *rhs_params]
