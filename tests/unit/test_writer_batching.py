"""The writer's batching: commands are gathered until they fill the target's batch, a paused
stream flushes what it has, and offsets are committed only after a batch was written."""

import asyncio
from collections import deque
from dataclasses import dataclass, field

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from schemas.commands import WriteCommand, WriteOp
from schemas.events import Side
from services.writer.batching import Batch, BatchPolicy, flush, gather, write_batches

TOPIC = "datasync.contacts.writes.app"
P0, P1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


def command(
    n: int, op: WriteOp = WriteOp.CREATE, record: str | None = None, bulk: bool = False
) -> bytes:
    return (
        WriteCommand(
            connection_id="c1",
            object_type="contacts",
            target=Side.APP,
            op=op,
            source_id=record or f"h{n}",
            target_id=None if op is WriteOp.CREATE else f"a{n}",
            properties={} if op is WriteOp.LINK else {"firstname": f"F{n}"},
            caused_by=f"event-{n}",
            bulk=bulk,
        )
        .model_dump_json()
        .encode()
    )


def record(partition: TopicPartition, offset: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord(
        partition.topic, partition.partition, offset, 0, 0, None, value, None, 0, len(value), []
    )


@dataclass
class FakeConsumer:
    """Messages arrive at scripted times on a fake clock; `getmany` hands out what has arrived
    within its timeout (at most `max_records`), advancing the clock as a real wait would."""

    arrivals: deque[tuple[float, TopicPartition, bytes]] = field(default_factory=deque)
    now: float = 0.0
    next_offset: dict[TopicPartition, int] = field(default_factory=dict)
    pending: deque[ConsumerRecord] = field(default_factory=deque)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)
    fetches: list[int] = field(default_factory=list)  # how many records each getmany returned
    events: list[str] = field(default_factory=list)

    def arrive(self, at: float, partition: TopicPartition, value: bytes) -> None:
        self.arrivals.append((at, partition, value))

    def clock(self) -> float:
        return self.now

    def _deliver_until(self, moment: float) -> None:
        while self.arrivals and self.arrivals[0][0] <= moment:
            _, partition, value = self.arrivals.popleft()
            offset = self.next_offset.get(partition, 0)
            self.next_offset[partition] = offset + 1
            self.pending.append(record(partition, offset, value))

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        deadline = self.now + timeout_ms / 1000
        self._deliver_until(self.now)
        if not self.pending and self.arrivals and self.arrivals[0][0] <= deadline:
            self.now = self.arrivals[0][0]
            self._deliver_until(self.now)
        if not self.pending:
            self.now = deadline
            self.fetches.append(0)
            return {}
        taken: dict[TopicPartition, list[ConsumerRecord]] = {}
        count = 0
        while self.pending and (max_records is None or count < max_records):
            r = self.pending.popleft()
            taken.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
            count += 1
        self.fetches.append(count)
        return taken

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        assert offsets is not None
        self.events.append("commit")
        self.committed.update(offsets)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))

    assigned: set[TopicPartition] = field(default_factory=lambda: {P0, P1})

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)


POLICY = BatchPolicy(size=10, linger=0.5, max_wait=3.0)


async def gathered(
    consumer: FakeConsumer, policy: BatchPolicy = POLICY, saturated: bool = False
) -> Batch:
    async def probe(_: Batch) -> bool:
        return saturated

    return await gather(consumer, policy, asyncio.Event(), probe, clock=consumer.clock)


async def test_commands_are_gathered_across_fetches_until_the_batch_is_full() -> None:
    consumer = FakeConsumer()
    for n in range(25):
        consumer.arrive(0.01 * n, P0 if n % 2 else P1, command(n))
    batch = await gathered(consumer)
    assert batch.writes == 10
    assert len(batch.commands) == 10
    # Never more than the batch has room for: the rest stays for the next batch.
    assert sum(consumer.fetches) == 10
    second = await gathered(consumer)
    assert second.writes == 10


async def test_links_do_not_count_towards_a_full_batch() -> None:
    consumer = FakeConsumer()
    for n in range(30):
        op = WriteOp.UPDATE if n % 3 == 0 else WriteOp.LINK
        consumer.arrive(0.0, P0, command(n, op))
    batch = await gathered(consumer)
    assert batch.writes == 10
    assert len(batch) == 28  # the tenth update is the 28th message


async def test_a_batch_never_holds_more_messages_than_its_limit() -> None:
    consumer = FakeConsumer()
    for n in range(POLICY.limit + 20):
        consumer.arrive(0.0, P0, command(n, WriteOp.LINK))
    batch = await gathered(consumer)
    assert len(batch) == POLICY.limit
    assert batch.writes == 0


async def test_a_paused_stream_flushes_a_partial_batch_after_the_linger() -> None:
    consumer = FakeConsumer()
    for n in range(4):
        consumer.arrive(1.0 + 0.1 * n, P0, command(n))
    consumer.arrive(5.0, P0, command(99))  # long after the pause
    batch = await gathered(consumer)
    assert batch.writes == 4
    assert consumer.now == pytest.approx(1.3 + POLICY.linger)


async def test_a_bulk_stream_waits_longer_for_its_next_burst_than_a_lone_change() -> None:
    policy = BatchPolicy(size=20, linger=0.05, max_wait=3.0, bulk_linger=0.5)
    lone = FakeConsumer()
    lone.arrive(0.0, P0, command(0))
    lone.arrive(0.3, P0, command(1))
    assert (await gathered(lone, policy)).writes == 1
    assert lone.now == pytest.approx(0.05)
    bursts = FakeConsumer()
    for n in range(10):  # bursts of two writes (a tenth of the batch), 0.3 s apart
        bursts.arrive(0.3 * (n // 2), P0, command(n, bulk=True))
    assert (await gathered(bursts, policy)).writes == 10
    assert bursts.now == pytest.approx(1.2 + 0.5)


async def test_peoples_changes_arriving_together_do_not_wait_as_a_bulk_stream_would() -> None:
    policy = BatchPolicy(size=20, linger=0.05, max_wait=3.0, bulk_linger=0.5)
    changes = FakeConsumer()
    for n in range(10):  # the same bursts, of webhook changes
        changes.arrive(0.3 * (n // 2), P0, command(n))
    assert (await gathered(changes, policy)).writes == 2
    assert changes.now == pytest.approx(0.05)


async def test_a_trickle_is_flushed_when_its_first_command_has_waited_the_longest() -> None:
    consumer = FakeConsumer()
    for n in range(9):
        consumer.arrive(0.4 * n, P0, command(n))  # never a pause as long as the linger
    batch = await gathered(consumer)
    assert batch.writes == 8  # the ninth arrives at 3.2 s, after the 3 s limit
    assert consumer.now == pytest.approx(POLICY.max_wait)


async def test_a_paused_batch_stays_open_while_the_budget_has_no_free_slot() -> None:
    consumer = FakeConsumer()
    consumer.arrive(0.0, P0, command(1))
    consumer.arrive(1.5, P0, command(2))  # after the linger, before the longest wait
    consumer.arrive(10.0, P0, command(3))
    batch = await gathered(consumer, saturated=True)
    assert batch.writes == 2
    assert consumer.now == pytest.approx(POLICY.max_wait)  # bounded all the same


async def test_a_paused_batch_is_flushed_at_the_linger_when_a_slot_is_free() -> None:
    consumer = FakeConsumer()
    consumer.arrive(0.0, P0, command(1))
    consumer.arrive(1.5, P0, command(2))
    batch = await gathered(consumer, saturated=False)
    assert batch.writes == 1


async def test_stop_returns_what_was_gathered() -> None:
    consumer = FakeConsumer()
    stop = asyncio.Event()
    stop.set()
    assert not (await gather(consumer, POLICY, stop, clock=consumer.clock)).entries
    consumer.arrive(0.0, P0, command(1))
    first = await gather(consumer, POLICY, asyncio.Event(), clock=consumer.clock)
    assert first.writes == 1


async def test_an_unparseable_message_is_kept_apart_and_its_offset_still_committed() -> None:
    consumer = FakeConsumer()
    consumer.arrive(0.0, P0, command(1))
    consumer.arrive(0.0, P0, b"not a command")
    consumer.arrive(0.0, P0, command(2))
    batch = await gathered(consumer)
    assert [c.source_id for c in batch.commands] == ["h1", "h2"]
    assert len(batch.unparseable) == 1
    letters: list[bytes] = []

    async def write(_: list[WriteCommand]) -> None:
        consumer.events.append("write")

    async def dead_letter(message: ConsumerRecord, _: ValidationError) -> None:
        letters.append(message.value)

    assert await flush(consumer, batch, batch, [], write, dead_letter)
    assert letters == [b"not a command"]
    assert consumer.committed == {P0: 3}


async def test_offsets_are_committed_only_after_the_batch_is_written() -> None:
    consumer = FakeConsumer()
    for n in range(6):
        consumer.arrive(0.0, P0 if n < 4 else P1, command(n))
    batch = await gathered(consumer)

    async def write(commands: list[WriteCommand]) -> None:
        assert not consumer.committed, "committed before the outcomes were stored"
        consumer.events.append(f"write {len(commands)}")

    assert await flush(consumer, batch, batch, [], write, _no_dead_letters)
    assert consumer.events == ["write 6", "commit"]
    assert consumer.committed == {P0: 4, P1: 2}


async def test_a_failed_write_commits_nothing_and_rewinds_to_the_batch_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("services.writer.batching.RETRY_PAUSE", 0)
    consumer = FakeConsumer()
    consumer.next_offset = {P0: 40, P1: 7}
    for n in range(5):
        consumer.arrive(0.0, P0 if n < 3 else P1, command(n))
    batch = await gathered(consumer)

    async def write(_: list[WriteCommand]) -> None:
        raise RuntimeError("database away")

    assert not await flush(consumer, batch, batch, [], write, _no_dead_letters)
    assert consumer.committed == {}
    assert sorted(consumer.seeks) == [(P0, 40), (P1, 7)]


async def test_write_batches_writes_everything_gathered_before_it_stops() -> None:
    consumer = FakeConsumer()
    for n in range(23):
        consumer.arrive(0.0, P0, command(n))
    stop = asyncio.Event()
    written: list[int] = []

    async def write(commands: list[WriteCommand]) -> None:
        written.append(len(commands))
        if sum(written) == 23:
            stop.set()

    policy = POLICY
    await asyncio.wait_for(
        write_batches(consumer, write, _no_dead_letters, policy, stop, None, consumer.clock),
        timeout=5,
    )
    assert written == [10, 10, 3]
    assert consumer.committed == {P0: 23}


# Holding back what would part-fill a request -------------------------------------------------

# Like HubSpot: creates and updates go in separate requests of up to 4 writes.
BY_OPERATION = BatchPolicy(size=8, linger=0.5, max_wait=3.0, per_request=4, by_operation=True)


def ids(commands: list[WriteCommand]) -> list[str]:
    return [f"{c.op.value}:{c.source_id}" for c in commands]


async def test_a_full_batch_holds_back_what_would_part_fill_a_request() -> None:
    consumer = FakeConsumer()
    ops = [WriteOp.CREATE] * 5 + [WriteOp.UPDATE] * 3  # 2 + 1 requests, 2 of them part-filled
    for n, op in enumerate(ops):
        consumer.arrive(0.0, P0, command(n, op))
    batch = await gathered(consumer, BY_OPERATION)
    written, held = batch.split(BY_OPERATION, consumer.now)
    assert ids(written.commands) == ["create:h0", "create:h1", "create:h2", "create:h3"]
    assert [e.message.offset for e in held] == [4, 5, 6, 7]


async def test_a_record_held_back_keeps_its_later_commands_behind_it() -> None:
    consumer = FakeConsumer()
    consumer.arrive(0.0, P0, command(0, WriteOp.UPDATE, record="ann"))  # 1 of 4: held
    for n in range(1, 4):
        consumer.arrive(0.0, P0, command(n, WriteOp.CREATE))
    consumer.arrive(0.0, P0, command(4, WriteOp.LINK, record="ann"))
    consumer.arrive(0.0, P0, command(5, WriteOp.CREATE, record="ann"))
    for n in range(6, 9):
        consumer.arrive(0.0, P0, command(n, WriteOp.CREATE))
    batch = await gathered(consumer, BY_OPERATION)
    assert batch.writes == 8
    written, held = batch.split(BY_OPERATION, consumer.now)
    # Ann's create is among the first four creates, but her update is held back before it:
    # her commands stay in order, so the create (and the link between) wait with it.
    assert ids(written.commands) == ["create:h1", "create:h2", "create:h3"]
    assert [e.message.offset for e in held] == [0, 4, 5, 6, 7, 8]


async def test_held_back_commands_go_first_in_the_next_batch() -> None:
    consumer = FakeConsumer()
    ops = [WriteOp.CREATE] * 5 + [WriteOp.UPDATE] * 3 + [WriteOp.UPDATE] * 6
    for n, op in enumerate(ops):
        consumer.arrive(0.0, P0, command(n, op))
    stop = asyncio.Event()
    written: list[list[str]] = []

    async def write(commands: list[WriteCommand]) -> None:
        written.append(ids(commands))
        if sum(map(len, written)) == len(ops):
            stop.set()

    await asyncio.wait_for(
        write_batches(consumer, write, _no_dead_letters, BY_OPERATION, stop, None, consumer.clock),
        timeout=5,
    )
    assert written[0] == ["create:h0", "create:h1", "create:h2", "create:h3"]
    # The next batch starts with what was held back and fills the updates' request with it;
    # the lone create waits on, until the stream pauses.
    assert written[1] == [f"update:h{n}" for n in range(5, 9)]
    assert written[2] == ["create:h4"] + [f"update:h{n}" for n in range(9, 14)]
    everything = [i for w in written for i in w]
    assert sorted(everything) == sorted(f"{op.value}:h{n}" for n, op in enumerate(ops))
    assert consumer.committed == {P0: len(ops)}


async def test_a_command_that_waited_the_longest_is_written_though_it_part_fills() -> None:
    consumer = FakeConsumer()
    consumer.arrive(0.0, P0, command(0, WriteOp.UPDATE))
    for n in range(1, 8):  # a steady trickle of creates: never a pause as long as the linger
        consumer.arrive(0.4 * n, P0, command(n, WriteOp.CREATE))
    batch = await gathered(consumer, BY_OPERATION)
    assert batch.writes == 8
    written, held = batch.split(BY_OPERATION, consumer.now)
    # The update has waited 2.8 s of the 15 allowed: it waits on; the creates fill a request.
    assert ids(written.commands) == [f"create:h{n}" for n in range(1, 5)]
    assert [e.message.offset for e in held] == [0, 5, 6, 7]
    written, _ = batch.split(BY_OPERATION, 15.0)
    assert ids(written.commands)[0] == "update:h0"


async def test_a_partition_is_committed_only_up_to_its_first_held_back_message() -> None:
    consumer = FakeConsumer()
    consumer.arrive(0.0, P0, command(0, WriteOp.UPDATE))  # held
    for n in range(1, 9):
        consumer.arrive(0.0, P1 if n % 2 else P0, command(n, WriteOp.CREATE))
    batch = await gathered(consumer, BY_OPERATION)
    written, held = batch.split(BY_OPERATION, consumer.now)

    async def write(_: list[WriteCommand]) -> None:
        pass

    assert await flush(consumer, batch, written, held, write, _no_dead_letters)
    # One fetch hands over P0's messages, then P1's: the creates held back are the last
    # three of them, h3, h5 and h7, at P1 offsets 1 to 3.
    assert consumer.committed == {P0: 0, P1: 1}


async def test_a_batch_written_because_the_stream_paused_holds_nothing_back() -> None:
    consumer = FakeConsumer()
    for n, op in enumerate([WriteOp.CREATE] * 3 + [WriteOp.UPDATE]):
        consumer.arrive(0.0, P0, command(n, op))
    stop = asyncio.Event()
    written: list[list[str]] = []

    async def write(commands: list[WriteCommand]) -> None:
        written.append(ids(commands))
        stop.set()

    await asyncio.wait_for(
        write_batches(consumer, write, _no_dead_letters, BY_OPERATION, stop, None, consumer.clock),
        timeout=5,
    )
    assert written == [["create:h0", "create:h1", "create:h2", "update:h3"]]
    assert consumer.committed == {P0: 4}


async def test_what_was_held_back_from_a_partition_taken_away_is_left_to_its_new_owner() -> None:
    consumer = FakeConsumer()
    consumer.arrive(0.0, P1, command(0, WriteOp.UPDATE))  # held, then P1 goes elsewhere
    for n in range(1, 9):
        consumer.arrive(0.0, P0, command(n, WriteOp.CREATE))
    consumer.arrive(1.0, P0, command(9, WriteOp.CREATE))
    stop = asyncio.Event()
    written: list[list[str]] = []

    async def write(commands: list[WriteCommand]) -> None:
        written.append(ids(commands))
        consumer.assigned = {P0}
        if len(written) == 2:
            stop.set()

    await asyncio.wait_for(
        write_batches(consumer, write, _no_dead_letters, BY_OPERATION, stop, None, consumer.clock),
        timeout=5,
    )
    assert all("update:h0" not in w for w in written)
    assert P1 not in consumer.committed or consumer.committed[P1] == 0


async def test_a_failed_write_goes_back_to_before_what_was_held_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("services.writer.batching.RETRY_PAUSE", 0)
    consumer = FakeConsumer()
    ops = [WriteOp.CREATE] * 5 + [WriteOp.UPDATE] * 3
    for n, op in enumerate(ops):
        consumer.arrive(0.0, P0, command(n, op))
    for n in range(8, 16):
        consumer.arrive(0.0, P0, command(n, WriteOp.CREATE))
    stop = asyncio.Event()
    calls = 0

    async def write(commands: list[WriteCommand]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the batch that starts with the held-back commands
            stop.set()
            raise RuntimeError("HubSpot away")

    await asyncio.wait_for(
        write_batches(consumer, write, _no_dead_letters, BY_OPERATION, stop, None, consumer.clock),
        timeout=5,
    )
    assert consumer.committed == {P0: 4}  # the first batch's four creates, nothing after
    assert consumer.seeks == [(P0, 4)]


async def _no_dead_letters(message: ConsumerRecord, error: ValidationError) -> None:
    raise AssertionError(f"unexpected dead letter {message.value!r}: {error}")
