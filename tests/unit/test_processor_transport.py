"""The processor's Faust consumers take the fetch wait from the settings, not Faust's 1.5 s."""

import asyncio

import pytest

from services.processor.app import create_app


async def test_the_processors_consumer_waits_for_data_as_long_as_the_setting_says(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("DATASYNC_PROCESSOR_FETCH_MAX_WAIT_MS", "77")
    app = create_app(["contacts"])
    thread = app.consumer._thread  # made with the consumer, with an event loop of its own
    consumer = thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == 77
    finally:
        await consumer.stop()  # never started: closes what it holds
        for service in (app, thread):  # the loops Faust made for them, unused here
            if service.loop is not asyncio.get_running_loop():
                service.loop.close()
