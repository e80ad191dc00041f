"""Bulk inserts of the store's write path (events, entanglements, KG rows) on any dialect.

Why: SQLAlchemy's Core ``executemany`` builds a parameter dict per row and runs every
value through its bind processing in Python; a pipeline writes thousands of event and
KG rows a second, and that bookkeeping cost about as much as SQLite's own insert.
On SQLite the rows go to the driver's ``executemany`` as tuples instead, each value
converted by the very bind processor SQLAlchemy would apply to its column (JSON text,
DATETIME text), so the stored values are the same. Other dialects (PostgreSQL: JSONB
adapters, another paramstyle) keep SQLAlchemy's path.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.dialects import postgresql, sqlite

_Processor = Callable[[Any], Any] | None
_Plan = tuple[str, list[str], list[_Processor]]
# Per dialect object (an engine's: its JSON serializer is in its processors), per insert shape.
_PLANS: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, tuple[str, ...] | None], _Plan]] = (
    weakref.WeakKeyDictionary())


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *,
                skip_conflicts_on: tuple[str, ...] | None = None) -> int:
    """Insert ``rows`` (dicts with the same keys: every column the table fills) in one statement
    run for all of them; ``skip_conflicts_on``: skip a row whose values of these (unique) columns
    are stored already (ON CONFLICT DO NOTHING). Returns how many rows were inserted."""
    if not rows:
        return 0
    dialect = connection.dialect
    if dialect.name != "sqlite" or dialect.paramstyle != "qmark":
        statement: Any = insert(table)
        if skip_conflicts_on is not None:
            dialect_insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
            statement = dialect_insert(table).on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
        result = connection.execute(statement.returning(*table.primary_key.columns), list(rows))
        return len(result.all())
    sql, columns, processors = _plan(connection, table, tuple(rows[0]), skip_conflicts_on)
    converters = list(zip(columns, processors, strict=True))
    values = [
        tuple(row[column] if process is None else process(row[column]) for column, process in converters)
        for row in rows
    ]
    cursor = connection.exec_driver_sql(sql, values)
    # sqlite3 sums the changes of every row: a row skipped on conflict changes nothing.
    return int(cursor.rowcount)


def _plan(connection: Connection, table: Table, columns: tuple[str, ...],
          skip_conflicts_on: tuple[str, ...] | None) -> _Plan:
    """SQLAlchemy's own SQL for the insert (compiled once) and each parameter's bind processor."""
    dialect = connection.dialect
    plans = _PLANS.setdefault(dialect, {})
    key = (table.name, ",".join(columns), skip_conflicts_on)
    plan = plans.get(key)
    if plan is None:
        statement: Any = insert(table)
        if skip_conflicts_on is not None:
            statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        order = list(compiled.positiontup or ())
        if sorted(order) != sorted(columns):
            raise ValueError(f"insert into {table.name} binds {order}, not the row's columns {sorted(columns)}")
        processors = [table.c[column].type.dialect_impl(dialect).bind_processor(dialect) for column in order]
        plan = plans[key] = (compiled.string, order, processors)
    return plan
