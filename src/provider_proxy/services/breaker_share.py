"""Circuit breakers shared by every process and replica that uses the same REDIS_URL.

When one process opens a target's breaker (`failures` in a row), it publishes the target's name on a
Redis channel, and every other process opens its own breaker for that target too: the others skip a
failing provider at once instead of each spending `BREAKER_FAILURES` requests (and their clients'
time) to find out. Only the opening is shared, one message per opening and nothing per request; each
process still sends its own probe after the cool-down and closes its own breaker when it succeeds.

Best effort by design: while Redis cannot be reached, each process keeps its own breakers, as without
REDIS_URL, and the listener connects again every few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Final

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from provider_proxy.services.breaker import CircuitBreakers

logger = logging.getLogger(__name__)

CHANNEL: Final = "provider-proxy:breaker-opened"
_CONNECT_TIMEOUT: Final = 0.5
_RECONNECT_SECONDS: Final = 5.0
_UNREACHABLE: Final = (RedisError, OSError, asyncio.TimeoutError)


class SharedBreakers:
    def __init__(self, breakers: CircuitBreakers, url: str) -> None:
        self._breakers = breakers
        # No read timeout: the listener waits for messages as long as there are none.
        self._redis: Redis = Redis.from_url(url, socket_connect_timeout=_CONNECT_TIMEOUT, health_check_interval=30)
        self._origin = uuid.uuid4().hex
        self._listener: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        self._breakers.on_open = self._opened
        self._listener = asyncio.create_task(self._listen(), name="breaker-share")

    async def close(self) -> None:
        self._breakers.on_open = None
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, *self._sending, return_exceptions=True)
        await self._redis.aclose()

    def _opened(self, target: str) -> None:
        task = asyncio.create_task(self._publish(target))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _publish(self, target: str) -> None:
        try:
            await asyncio.wait_for(self._redis.publish(CHANNEL, self._message(target)), _CONNECT_TIMEOUT * 2)
        except _UNREACHABLE as exc:
            logger.info("could not tell other replicas that %s's breaker opened (Redis: %s)", target, exc)

    def _message(self, target: str) -> bytes:
        return orjson.dumps({"target": target, "origin": self._origin})

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        self._received(message.get("data"))
            except _UNREACHABLE as exc:
                self.subscribed.clear()
                logger.warning("breakers are not shared while Redis is unreachable (%s); trying again", exc)
                await asyncio.sleep(_RECONNECT_SECONDS)

    def _received(self, data: object) -> None:
        try:
            message = orjson.loads(data) if isinstance(data, bytes | str) else None
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("target"), str):
            logger.warning("ignored a message on %s that is not a breaker opening: %r", CHANNEL, data)
            return
        if message.get("origin") != self._origin:
            logger.info("%s's breaker opened on another replica; skipping it here too", message["target"])
            self._breakers.open_from_peer(message["target"])
