"""How the writer gathers write commands into batches that fill the target's batch APIs.

Every flush costs the target a request per batch it makes (HubSpot: 100 inputs per batch
call and operation; Dataverse: 1,000 operations per `$batch`), so a flush of 30 commands costs
as much as one of a thousand. The consumer hands over whatever it has fetched, a few dozen
messages at a time; instead the writer gathers commands until `size` of them cost a request
(links cost none and do not count), flushing a partial batch once the stream has paused for
`linger` seconds, or once its first command has waited `max_wait`. A bulk stream (an initial
sync, a poll's catch-up: commands marked `bulk` by the processor) comes in bursts, one per batch
the processor handles, so once a batch holds a tenth of `size` (or `BULK_WRITES`, if fewer) of
its writes it waits `bulk_linger` for the next burst instead; people's changes go after
`linger`, however many arrive together. While the target's request budget has no free slot, a
paused batch stays open (up to `max_wait`): a request sent then would only wait for the slot,
and meanwhile more commands may share it.

A full batch can still end in part-filled requests: HubSpot takes creates and updates in
separate calls, and the two arrive interleaved (the topic's partitions do not progress
evenly). So a full batch holds back, for the next one, the commands that would only part-fill
a request, with every later command of their records (a record's commands are written in
order). A command is held back only while it is younger than `HOLD_FACTOR` times `max_wait`,
and never when the batch is written because the stream paused or the writer stops.

At-least-once: a partition's offset is committed only up to its first command not yet
written, and only after the writer stored the outcome of every command before it; a batch
whose write fails is consumed again from its first offsets, held-back commands included.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Protocol

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from pydantic import ValidationError

from schemas.commands import WriteCommand, WriteOp

log = logging.getLogger(__name__)

IDLE_POLL = 1.0  # seconds an empty batch waits for its first command, between looks at `stop`
RETRY_PAUSE = 1.0  # seconds before a batch whose write failed is consumed again
LIMIT_FACTOR = 5  # a batch holds at most this many times `size` messages, links included
BULK_WRITES = 20  # writes that make a batch part of a bulk stream, whatever its size
HOLD_FACTOR = 5  # a command is held back while younger than this many times `max_wait`


@dataclass(frozen=True)
class BatchPolicy:
    size: int  # commands that cost the target a request: at this many a batch is full
    linger: float  # seconds a partial batch waits for its next command
    max_wait: float  # seconds the first command of a partial batch waits at most
    per_request: int = 1  # writes one request of the target carries
    by_operation: bool = False  # whether the target takes each operation in its own requests
    bulk_linger: float | None = None  # `linger` of a bulk stream's batch (default: `linger`)

    def pause(self, batch: "Batch") -> float:
        """How long the batch waits for its next command."""
        bulk = batch.bulk_writes >= min(max(1, self.size // 10), BULK_WRITES)
        return self.bulk_linger if bulk and self.bulk_linger is not None else self.linger

    @property
    def limit(self) -> int:
        """Messages a batch holds at most: links cost no request but must be stored."""
        return self.size * LIMIT_FACTOR

    def request_group(self, command: WriteCommand) -> Hashable:
        """Commands that can share one request of the target."""
        return (command.op, command.kind) if self.by_operation else None


def costs_a_request(command: WriteCommand) -> bool:
    """Whether the command is a write to the target; a link only records the pair."""
    return command.op is not WriteOp.LINK


def _record(command: WriteCommand) -> tuple[str, str, str]:
    return (command.connection_id, command.object_type, command.source_id)


@dataclass
class Entry:
    """One consumed message: its command, or why it is not one."""

    partition: TopicPartition
    message: ConsumerRecord
    command: WriteCommand | None
    error: ValidationError | None = None
    since: float = 0.0  # when it was consumed: only a young command is held back


@dataclass
class Batch:
    """Consumed messages not yet written, in the order they arrived."""

    entries: list[Entry] = field(default_factory=list)
    writes: int = 0  # commands that cost the target a request
    bulk_writes: int = 0  # ... of them, those of a bulk stream

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, fetched: dict[TopicPartition, list[ConsumerRecord]], now: float) -> None:
        for partition, records in fetched.items():
            for record in records:
                try:
                    command = WriteCommand.model_validate_json(record.value or b"")
                except ValidationError as exc:
                    self.entries.append(Entry(partition, record, None, exc, now))
                    continue
                self.entries.append(Entry(partition, record, command, since=now))
                self._count(command)

    def carry(self, held: list[Entry]) -> None:
        """Start with the commands the batch before held back."""
        for entry in held:
            self.entries.append(entry)
            if entry.command is not None:
                self._count(entry.command)

    def _count(self, command: WriteCommand) -> None:
        if costs_a_request(command):
            self.writes += 1
            self.bulk_writes += command.bulk

    @property
    def commands(self) -> list[WriteCommand]:
        return [e.command for e in self.entries if e.command is not None]

    @property
    def unparseable(self) -> list[tuple[ConsumerRecord, ValidationError]]:
        return [(e.message, e.error) for e in self.entries if e.error is not None]

    def full(self, policy: BatchPolicy) -> bool:
        return self.writes >= policy.size or len(self) >= policy.limit

    def room(self, policy: BatchPolicy) -> int:
        """Messages to fetch at most: never more writes than `size` (one message is at most
        one write), never more messages than the limit."""
        return max(1, min(policy.size - self.writes, policy.limit - len(self)))

    def starts(self) -> dict[TopicPartition, int]:
        """Where each partition's part of the batch begins: where to consume it again."""
        starts: dict[TopicPartition, int] = {}
        for e in self.entries:
            starts[e.partition] = min(starts.get(e.partition, e.message.offset), e.message.offset)
        return starts

    def split(self, policy: BatchPolicy, now: float) -> tuple["Batch", list[Entry]]:
        """(what to write now, what to hold back for the next batch): the commands that would
        part-fill a request, with every later command of their records; but a command that
        has waited long enough already is written."""
        groups: dict[Hashable, list[int]] = {}
        for index, e in enumerate(self.entries):
            if e.command is not None and costs_a_request(e.command):
                groups.setdefault(policy.request_group(e.command), []).append(index)
        first_held: dict[tuple[str, str, str], int] = {}
        for indices in groups.values():
            # Commands that waited long enough fill requests too, but only the others wait.
            young = policy.max_wait * HOLD_FACTOR
            spare = [i for i in indices if now - self.entries[i].since < young]
            for index in spare[len(spare) - min(len(indices) % policy.per_request, len(spare)) :]:
                command = self.entries[index].command
                assert command is not None
                key = _record(command)
                first_held[key] = min(first_held.get(key, index), index)
        written, held = Batch(), []
        for index, e in enumerate(self.entries):
            start = first_held.get(_record(e.command)) if e.command is not None else None
            # A record's commands are consumed in order, so those after a young one are young.
            if start is not None and index >= start:
                held.append(e)
            else:
                written.entries.append(e)
                written.writes += e.command is not None and costs_a_request(e.command)
        return written, held


class Source(Protocol):
    """What the writer needs of its consumer (an `AIOKafkaConsumer`)."""

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord]]: ...

    async def commit(
        self, offsets: dict[TopicPartition, int] | dict[TopicPartition, OffsetAndMetadata] | None
    ) -> None: ...

    def seek(self, partition: TopicPartition, offset: int) -> None: ...

    def assignment(self) -> set[TopicPartition]: ...


Saturated = Callable[[Batch], Awaitable[bool]]


async def gather(
    source: Source,
    policy: BatchPolicy,
    stop: asyncio.Event,
    saturated: Saturated | None = None,
    clock: Callable[[], float] = time.monotonic,
    batch: Batch | None = None,
) -> Batch:
    """The next batch (`batch`, holding what the batch before held back, or a new one): full,
    or paused for `linger` (longer while `saturated` says the target has no free request
    slot), or as old as `max_wait`; or whatever is gathered when `stop` is set."""
    batch = batch if batch is not None else Batch()
    first = last = clock()
    while True:
        now = clock()
        if not batch.entries:
            if stop.is_set():
                return batch
            timeout = IDLE_POLL
        else:
            if stop.is_set() or batch.full(policy):
                return batch
            left = first + policy.max_wait - now
            if left <= 0:
                return batch
            pause = last + policy.pause(batch) - now
            if pause <= 0:
                if saturated is None or not await saturated(batch):
                    return batch
                pause = policy.pause(batch)  # no slot to send it with: keep gathering a while
            timeout = min(pause, left)
        fetched = await source.getmany(
            timeout_ms=max(1, round(timeout * 1000)), max_records=batch.room(policy)
        )
        if any(fetched.values()):
            last = clock()
            if not batch.entries:
                first = last
            batch.add(fetched, last)


Write = Callable[[list[WriteCommand]], Awaitable[object]]
DeadLetter = Callable[[ConsumerRecord, ValidationError], Awaitable[None]]


async def write_batches(
    source: Source,
    write: Write,
    dead_letter: DeadLetter,
    policy: BatchPolicy,
    stop: asyncio.Event,
    saturated: Saturated | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Gather, write, store the outcomes (`write` does), then commit, until `stop` is set; the
    batch gathered when it is set is written and committed before returning."""
    held: list[Entry] = []
    while True:
        batch = Batch()
        assigned = source.assignment()
        # A partition taken away meanwhile is consumed again by its new owner.
        batch.carry([e for e in held if e.partition in assigned])
        batch = await gather(source, policy, stop, saturated, clock, batch)
        if not batch.entries:
            if stop.is_set():
                return
            held = []
            continue
        written, held = (
            batch.split(policy, clock())
            if batch.writes >= policy.size and not stop.is_set()
            else (batch, [])
        )
        if not await flush(source, batch, written, held, write, dead_letter):
            held = []  # consumed again from the batch's first offsets


async def flush(
    source: Source,
    batch: Batch,
    written: Batch,
    held: list[Entry],
    write: Write,
    dead_letter: DeadLetter,
) -> bool:
    """Write `written` (the part of `batch` not `held` back) and commit what can be: each
    partition up to its first held-back message. On failure nothing is committed and the
    consumer goes back to the batch's first offsets, so all of it is consumed again."""
    try:
        await write(written.commands)
        for record, error in written.unparseable:
            await dead_letter(record, error)
    except Exception:
        log.exception("writing a batch of %d commands failed; retrying it", len(written))
        assigned = source.assignment()
        for partition, offset in batch.starts().items():
            if partition in assigned:  # a partition taken away is consumed again by its new owner
                source.seek(partition, offset)
        await asyncio.sleep(RETRY_PAUSE)
        return False
    offsets: dict[TopicPartition, int] = {}
    for e in batch.entries:
        offsets[e.partition] = max(offsets.get(e.partition, 0), e.message.offset + 1)
    for e in held:
        offsets[e.partition] = min(offsets[e.partition], e.message.offset)
    assigned = source.assignment()
    try:
        await source.commit({p: o for p, o in offsets.items() if p in assigned})
    except (CommitFailedError, IllegalStateError) as exc:
        # The group rebalanced while the batch was written: whoever owns its partitions now
        # consumes the uncommitted part again, and writes are idempotent.
        log.warning("offsets of a written batch not committed (%s); it will be redelivered", exc)
    return True
