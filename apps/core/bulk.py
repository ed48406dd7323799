"""Bulk writes faster than Django's ``bulk_update``, for hot paths.

``bulk_update`` builds one ``CASE WHEN id = ... THEN ...`` expression per field and row,
which costs more Python than the database spends on it. :func:`update_rows` sends one
``UPDATE ... FROM (VALUES ...)`` statement per chunk instead, every value cast to its column's
database type, and bypasses signals and ``save()`` like ``bulk_update`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models

CHUNK = 1000


def update_rows(
    model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]
) -> int:
    """Write ``fields`` of ``objs`` (saved rows) in one statement per chunk; returns the number
    of rows updated. ``auto_now`` fields are stamped as ``save()`` would.

    The values travel as one array per column (``unnest``), so the statement has as many
    parameters as columns, however many rows it updates."""
    if not objs:
        return 0
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in [pk, *columns])
    names = ", ".join(quote(c) for c in [pk.column] + [f.column for f in columns])
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
    key = quote(pk.column)
    # Identifiers come from the model's metadata; values are all parameters.
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608
        f"FROM unnest({arrays}) AS v({names}) WHERE t.{key} = v.{key}"
    )
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), CHUNK):
            chunk = objs[start : start + CHUNK]
            values: list[list[Any]] = [[pk.get_db_prep_value(o.pk, connection) for o in chunk]]
            for field in columns:
                values.append(
                    [
                        field.get_db_prep_save(field.pre_save(o, add=False), connection)
                        for o in chunk
                    ]
                )
            cursor.execute(sql, values)
            updated += cursor.rowcount
    return updated
