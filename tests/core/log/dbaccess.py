"""Direct database access for tests that play the attacker."""

from __future__ import annotations

from ailedger.core.log import LogStore, SqliteStore


def raw_execute(store: LogStore, sql: str, params: tuple = ()) -> None:
    """Run SQL on the store's own connection, as an attacker with database access would."""
    if isinstance(store, SqliteStore):
        store._conn.execute(sql, params)
    else:
        store._conn.execute(sql.replace("?", "%s"), params)
