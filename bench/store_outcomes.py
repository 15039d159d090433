"""Storing writers' outcomes: the store's batch at a time against one statement pair per outcome.

one by one  the store as it was (kept as the reference in
            tests/integration/test_store_outcomes_batch.py): per outcome a SELECT ... FOR UPDATE
            of its link, then its INSERT or UPDATE; then the audit rows.
batched     `Store.apply_outcomes`: per batch one SELECT ... FOR UPDATE of every link the batch
            can touch, one UPDATE, one INSERT, then the audit rows.

Both store the same N outcomes of a contacts sync that holds N linked pairs, in batches of 500
(as a writer does), each on a connection of its own in one embedded PostgreSQL: three in four
outcomes are landed updates of linked pairs (with an audit row), one in ten a failure, the rest
new records. The two take turns batch by batch, so that a busy machine slows both alike; the
stored links and audit rows are compared at the end.

Run: `python bench/store_outcomes.py` (`--outcomes`, `--batch` to change the sizes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from datetime import timedelta

from _common import ROOT, BenchError, embedded_stack, save_results, say, table

from schemas.events import Side
from services.store.outcomes import AuditEntry, LinkOutcome
from services.store.repository import Store

sys.path.insert(0, str(ROOT))  # the reference lives with the tests
from tests.integration.test_store_outcomes_batch import (
    Apply,
    Seed,
    Universe,
    batched,
    one_by_one,
)


def workload(n: int) -> tuple[list[Seed], list[LinkOutcome]]:
    """n linked pairs, and n outcomes in the order a writer's batches bring them."""
    seeds = [
        Seed("c", "contacts", f"h{i}", f"a{i}", values={"firstname:firstname": f"Old{i}"})
        for i in range(n)
    ]
    rng = random.Random(1)
    outcomes = []
    for i in rng.sample(range(n), n):
        kind = rng.random()
        if kind < 0.75:
            outcomes.append(
                LinkOutcome(
                    "c",
                    "contacts",
                    f"h{i}",
                    f"a{i}",
                    "in_sync",
                    {"firstname:firstname": f"New{i}"},
                    target=Side.APP,
                    reason="changed in hubspot",
                    command_id=f"cmd-{i}",
                    audit=[AuditEntry("firstname", f"Old{i}", f"New{i}")],
                )
            )
        elif kind < 0.85:
            outcomes.append(
                LinkOutcome(
                    "c",
                    "contacts",
                    f"h{i}",
                    f"a{i}",
                    "failing",
                    None,
                    "validation",
                    "bad phone",
                    timedelta(minutes=1),
                    target=Side.APP,
                )
            )
        else:  # a record new in HubSpot, created in the app
            outcomes.append(
                LinkOutcome(
                    "c",
                    "contacts",
                    f"h{n + i}",
                    f"a{n + i}",
                    "in_sync",
                    {"firstname:firstname": f"New{i}"},
                    target=Side.APP,
                    op="create",
                    command_id=f"cmd-{n + i}",
                    audit=[AuditEntry("firstname", None, f"New{i}")],
                )
            )
    return seeds, outcomes


async def run(n: int, batch: int) -> None:
    async with embedded_stack() as stack:
        store = await Store.connect(stack.dsn)
        try:
            seeds, outcomes = workload(n)
            ways: dict[str, Apply] = {"one by one": one_by_one, "batched": batched}
            universes = {
                name: Universe(store, name.replace(" ", "-"), a) for name, a in ways.items()
            }
            for universe in universes.values():
                await universe.create(["c"], seeds)
            await store.pool.execute("ANALYZE links")
            seconds = dict.fromkeys(universes, 0.0)
            batches = [outcomes[i : i + batch] for i in range(0, len(outcomes), batch)]
            say(f"storing {n} outcomes in {len(batches)} batches of {batch}, both ways")
            for k, outcome_batch in enumerate(batches):
                names = list(universes) if k % 2 == 0 else list(reversed(universes))
                for name in names:
                    universe = universes[name]
                    prefixed = [
                        LinkOutcome(**{**vars(o), "connection_id": universe.prefix + "c"})
                        for o in outcome_batch
                    ]
                    start = time.perf_counter()
                    await universe.apply(store, prefixed)
                    seconds[name] += time.perf_counter() - start
            states = [await u.state() for u in universes.values()]
            if states[0] != states[1]:
                raise BenchError("the two ways stored different links or audit rows")
        finally:
            await store.close()
    rows = [
        (name, f"{s:.3f}", f"{1000 * s / len(batches):.1f}", f"{n / s:,.0f}")
        for name, s in seconds.items()
    ]
    print(table(("", "seconds", "ms per batch", "outcomes/s"), rows))
    ratio = seconds["one by one"] / seconds["batched"]
    load = os.getloadavg()
    print(f"batched is {ratio:.1f}x as fast (load average {load[0]:.2f} {load[1]:.2f})")
    save_results(
        "store_outcomes",
        {
            "outcomes": n,
            "batch": batch,
            "seconds": seconds,
            "ratio": round(ratio, 2),
            "load_average": load[0],
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outcomes", type=int, default=5000, help="outcomes stored each way")
    parser.add_argument("--batch", type=int, default=500, help="outcomes per batch")
    args = parser.parse_args()
    asyncio.run(run(args.outcomes, args.batch))


if __name__ == "__main__":
    main()
