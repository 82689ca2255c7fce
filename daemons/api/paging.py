"""Keyset pagination: the rows after a marker in any total order, whatever changed between pages.

Offsets skip or repeat rows when others are created or deleted between two pages; a keyset
condition ("after the marker's values in this order") does not, and costs the same at any
depth. Used by the lists that page by marker (servers, images, instance actions, migrations, usage).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from ncloud.daemons.api import validation
from ncloud.daemons.api.errors import Fault


def after(session: Session, order: list[tuple[ColumnElement, bool]], marker_clause: ColumnElement):
    """The condition for rows after the one `marker_clause` selects, in `order` ([(expression,
    ascending)], ending with a unique key), or None when there is no such row.

    The marker's values are read with the very expressions the rows are ordered by, so the
    condition agrees with ORDER BY, NULL defaults included.
    """
    expressions = [expression for expression, _ in order]
    values = session.execute(select(*expressions).where(marker_clause)).first()
    if values is None:
        return None
    clauses = []
    for index, (expression, ascending) in enumerate(order):
        earlier = [expressions[i] == values[i] for i in range(index)]
        later = expression > values[index] if ascending else expression < values[index]
        clauses.append(and_(*earlier, later))
    return or_(*clauses)


def ordered(query, order: list[tuple[ColumnElement, bool]]):
    return query.order_by(*(expression.asc() if ascending else expression.desc() for expression, ascending in order))


def page(session: Session, query, order: list[tuple[ColumnElement, bool]], params: dict[str, list[str]],
         max_limit: int, marker_row: Callable[[str], ColumnElement]):
    """`query` limited to the page that `marker` and `limit` ask for: (query, limit).

    `marker_row(marker)` selects the marker's row; an unknown marker is Nova's 400. The limit is
    the one asked for, at most `max_limit` ([api] max_limit).
    """
    marker = validation.last(params, "marker")
    if marker:
        condition = after(session, order, marker_row(marker))
        if condition is None:
            raise Fault(400, f"Marker {marker} could not be found.")
        query = query.where(condition)
    limit = min(int(validation.last(params, "limit", str(max_limit))), max_limit)
    return query.limit(limit), limit
