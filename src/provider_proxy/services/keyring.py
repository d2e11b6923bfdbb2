"""The client keys in force, kept current: the keys file is read again when it changes, so a key created
or revoked with `provider-proxy keys` takes effect within `POLL_SECONDS`, without a restart.

A keys file that turns unreadable or invalid keeps the keys last read (and says so in the log): a
typo while editing must not lock every client out, nor let everyone in. Once keys are required they
stay required: a deleted or emptied keys file refuses every key rather than opening the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Final

from provider_proxy.config.keys import ClientKey, KeySet
from provider_proxy.config.proxy_config import ProxyConfig
from provider_proxy.config.settings import ConfigError

logger = logging.getLogger(__name__)

POLL_SECONDS: Final = 1.0


class KeyRing:
    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.keys: KeySet = config.keys
        # Whether clients must present a key (read on every request).
        self.required = config.keys.required
        self._seen = self._stamp()
        self._task: asyncio.Task[None] | None = None

    def find(self, presented: str) -> ClientKey | None:
        return self.keys.find(presented)

    def refresh(self) -> bool:
        """Read the keys file again if it changed since it was last read; True when the keys changed."""
        stamp = self._stamp()
        if stamp == self._seen:
            return False
        self._seen = stamp
        try:
            keys = self.config.reload_keys()
        except ConfigError as exc:
            logger.error("keys file not reloaded, the keys read before stay in force: %s", exc)
            return False
        if self.keys.required and not keys.required:
            # The file is gone or empty: that must not open the proxy to everyone.
            logger.warning(
                "keys file %s has no keys now: every key is refused until one is created",
                self.config.settings.keys_path,
            )
            keys = KeySet(required=True)
        added = len(keys.by_digest.keys() - self.keys.by_digest.keys())
        removed = len(self.keys.by_digest.keys() - keys.by_digest.keys())
        self.keys, self.required = keys, keys.required
        logger.info("keys file reloaded: %d keys in force (%d new, %d gone)", len(keys.by_digest), added, removed)
        return True

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.config.settings.keys_path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size, stat.st_ino

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            self.refresh()
