"""The embedded SQLite broker: a wake-up from the publisher ends the consumer's wait at once, and a
lost one only delays the message to the next poll. Real kombu connections on a real SQLite file."""

from __future__ import annotations

import threading
import time

import pytest
from kombu import Connection, Exchange, Queue

from service import embedded_broker

pytestmark = pytest.mark.skipif(not embedded_broker.WAKEUPS, reason="wake-ups need Linux abstract sockets")


@pytest.fixture
def broker_url(tmp_path):
    embedded_broker.install()
    return f"sqla+sqlite:///{tmp_path / 'broker.db'}"


def consume_one(broker_url: str, queue: Queue, received: list, ready: threading.Event) -> None:
    """Drain until one message arrives; record the monotonic time it did."""
    with Connection(broker_url) as connection:
        assert type(connection.transport) is embedded_broker.Transport

        def on_message(body, message):
            received.append((body, time.monotonic()))
            message.ack()

        with connection.Consumer(queue, callbacks=[on_message]):
            ready.set()
            deadline = time.monotonic() + 20
            while not received and time.monotonic() < deadline:
                try:
                    connection.drain_events(timeout=5)
                except TimeoutError:
                    pass


def delivery_seconds(broker_url: str, wake: bool) -> float:
    """Seconds from publishing one message (after the consumer has been idle a while) to its delivery."""
    queue = Queue("training", Exchange("training"), routing_key="training")
    received, ready = [], threading.Event()
    consumer = threading.Thread(target=consume_one, args=(broker_url, queue, received, ready))
    consumer.start()
    ready.wait(10)
    deadline = time.monotonic() + 10
    while not embedded_broker.wake(broker_url):  # Until its waker is bound: a wake-up can now reach it.
        assert time.monotonic() < deadline, "the consumer never listened for wake-ups"
        time.sleep(0.05)
    time.sleep(0.3)  # The consumer is asleep after empty polls now.
    with Connection(broker_url) as connection:
        connection.Producer().publish({"job": "1"}, exchange=queue.exchange, routing_key="training",
                                      declare=[queue])
        published = time.monotonic()
        woken = embedded_broker.wake(broker_url) if wake else None
    consumer.join(30)
    assert [body for body, _ in received] == [{"job": "1"}]
    assert woken in (None, True)
    return received[0][1] - published


def test_a_wake_up_delivers_well_before_the_next_poll(broker_url):
    assert delivery_seconds(broker_url, wake=True) < 0.5 * embedded_broker.FALLBACK_POLL_SECONDS


def test_a_lost_wake_up_still_delivers_at_the_next_poll(broker_url):
    seconds = delivery_seconds(broker_url, wake=False)
    assert seconds <= embedded_broker.FALLBACK_POLL_SECONDS + 1.0


def test_a_wake_up_with_nobody_listening_is_dropped_quietly(tmp_path):
    assert embedded_broker.wake(f"sqla+sqlite:///{tmp_path / 'nobody.db'}") is False
    assert embedded_broker.wake("redis://127.0.0.1:6379/0") is False
