"""The state store's side of the metrics: counters that many processes add to, and the
totals the status API's `/metrics` reads."""

import json
from collections.abc import Mapping
from typing import Any

import asyncpg

Labels = tuple[tuple[str, str], ...]  # sorted (label, value) pairs: hashable, one per series


def labels_of(**labels: str) -> Labels:
    return tuple(sorted(labels.items()))


class MetricQueries:
    """Counters and the totals behind `/metrics`; mixed into `Store`."""

    pool: asyncpg.Pool

    async def add_counts(self, name: str, counts: Mapping[Labels, int]) -> None:
        """Add each count to its series of counter `name`, in one statement. The rows go in
        a fixed order so that concurrent writers never deadlock on each other's rows."""
        rows = sorted((json.dumps(dict(k), sort_keys=True), n) for k, n in counts.items() if n)
        if not rows:
            return
        await self.pool.execute(
            "INSERT INTO counters (name, labels, value)"
            " SELECT $1, l::jsonb, v FROM unnest($2::text[], $3::bigint[]) AS t (l, v)"
            " ON CONFLICT (name, labels) DO UPDATE SET value = counters.value + EXCLUDED.value",
            name,
            [labels for labels, _ in rows],
            [n for _, n in rows],
        )

    async def counter_values(self) -> list[tuple[str, dict[str, Any], int]]:
        rows = await self.pool.fetch("SELECT name, labels, value FROM counters ORDER BY name")
        return [(r["name"], r["labels"], r["value"]) for r in rows]

    async def link_counts(self) -> list[tuple[str, str, str, int]]:
        """(connection, object, status, number of links) over every connection."""
        rows = await self.pool.fetch(
            "SELECT connection_id, object_type, status, count(*) AS n FROM links"
            " GROUP BY connection_id, object_type, status"
        )
        return [(r["connection_id"], r["object_type"], r["status"], r["n"]) for r in rows]
