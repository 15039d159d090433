"""Faust's Kafka transport, with how long a fetch waits for data as a setting.

Faust builds its consumers with `fetch_max_wait_ms=1500`. Kafka answers a fetch as soon as any
data is there, so on Kafka that is only the wait of an idle fetch; a broker that holds every
fetch for its whole wait (the embedded development broker does) holds each change up to 1.5 s
in the processor. `processor_fetch_max_wait_ms` sets it; the default is Faust's own.
"""

from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as faust_kafka

from services.config import ProcessorSettings


class _ConsumerThread(faust_kafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read by the consumer when it starts, which comes after this.
        consumer._fetch_max_wait_ms = ProcessorSettings().processor_fetch_max_wait_ms
        return consumer


class _Consumer(faust_kafka.Consumer):
    def _new_consumer_thread(self) -> faust_kafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_kafka.Transport):
    Consumer = _Consumer


class App(faust.App):
    """A Faust app whose consumers use `_Transport`."""

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
