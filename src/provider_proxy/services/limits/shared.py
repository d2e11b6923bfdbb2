"""Per-key counts in Redis, shared by every process and replica that uses the same REDIS_URL.

Each decision is one round trip: a Lua script reads the key's spend, token debt and request TAT with
Redis's own clock (replicas' clocks may disagree; Redis has one) and takes the request atomically. The
script only moves numbers; the verdict is made from them by the same functions as in-process
(`services.limits.rates.decide`), so the two cannot drift apart.

Keys: `{prefix}{name}:rq` (request TAT), `:tk` (token TAT), `:d:YYYY-MM-DD` and `:m:YYYY-MM` (dollars);
each expires when it no longer matters.
"""

from __future__ import annotations

from typing import Any, Final

from redis.asyncio import Redis

from provider_proxy.config.keys import ClientKey
from provider_proxy.services.limits.rates import (
    PERIOD,
    Verdict,
    day_label,
    decide,
    month_label,
    seconds_left,
    window,
)

PREFIX: Final = "provider-proxy:key:"
_TIMEOUT: Final = 0.5

# ARGV: request interval (0: no request rate), daily and monthly budget (-1: none). Returns now, spent
# today, spent this month, token TAT, request TAT before, and whether the request was taken.
_ADMIT: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local day = redis.call('GET', KEYS[3]) or '0'
local month = redis.call('GET', KEYS[4]) or '0'
local tokens = redis.call('GET', KEYS[2]) or '0'
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local interval, daily, monthly = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local budget_left = (daily < 0 or tonumber(day) < daily) and (monthly < 0 or tonumber(month) < monthly)
local taken = 0
if interval > 0 and budget_left and tonumber(tokens) - now < PERIOD then
  local after = math.max(tat, now) + interval
  if after - now <= PERIOD + 1e-9 then
    redis.call('SET', KEYS[1], string.format('%.6f', after), 'PX', math.ceil((after - now) * 1000) + 1000)
    taken = 1
  end
end
return {string.format('%.6f', now), day, month, tokens, string.format('%.6f', tat), taken}
""".replace("PERIOD", repr(PERIOD))

# ARGV: tokens, seconds per token (0: no token rate), dollars, day TTL, month TTL.
_SETTLE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tokens, per_token, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if per_token > 0 and tokens > 0 then
  local after = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now) + tokens * per_token
  redis.call('SET', KEYS[1], string.format('%.6f', after), 'PX', math.ceil((after - now) * 1000) + 1000)
end
if cost > 0 then
  redis.call('INCRBYFLOAT', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  redis.call('INCRBYFLOAT', KEYS[3], ARGV[3])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
return 1
"""


class SharedCounters:
    def __init__(self, url: str) -> None:
        self.redis: Redis = Redis.from_url(url, socket_timeout=_TIMEOUT, socket_connect_timeout=_TIMEOUT)
        self._admit = self.redis.register_script(_ADMIT)
        self._settle = self.redis.register_script(_SETTLE)

    async def admit(self, key: ClientKey, now: float) -> Verdict:
        """The verdict; the request is counted when allowed. `now` only names the budget periods."""
        interval = PERIOD / key.rpm if key.rpm is not None else 0.0
        day_key, month_key = _budget_keys(key.name, now)
        names = [f"{PREFIX}{key.name}:rq", f"{PREFIX}{key.name}:tk", day_key, month_key]
        budgets = [-1.0 if budget is None else budget for budget in (key.daily_budget, key.monthly_budget)]
        result: list[Any] = await self._admit(keys=names, args=[interval, *budgets])
        redis_now, day, month, token_tat, request_tat = (float(value) for value in result[:5])
        verdict, _ = decide(key, request_tat, token_tat, (day, month), redis_now)
        if verdict.refused is None and key.rpm is not None and not int(result[5]):
            # The script's arithmetic (on the same numbers) is the word that counts.
            return Verdict("requests", retry_after=1.0, requests=window(key.rpm, PERIOD))
        return verdict

    async def settle(self, key: ClientKey, tokens: int, cost: float, now: float) -> None:
        per_token = PERIOD / key.tpm if key.tpm is not None else 0.0
        day_key, month_key = _budget_keys(key.name, now)
        args: list[str | int | float] = [tokens, per_token, repr(cost)]
        args += [seconds_left("daily_budget", now), seconds_left("monthly_budget", now)]
        await self._settle(keys=[f"{PREFIX}{key.name}:tk", day_key, month_key], args=args)

    async def seed_spends(self, spend: dict[str, tuple[float, float]], now: float) -> None:
        """Spend known from the usage store (name -> today, this month), for the counters Redis does not
        have (a new or emptied Redis); counters it has are newer and stay."""
        day_ttl, month_ttl = seconds_left("daily_budget", now), seconds_left("monthly_budget", now)
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, (day, month) in spend.items():
                day_key, month_key = _budget_keys(name, now)
                pipe.set(day_key, repr(day), nx=True, ex=day_ttl)
                pipe.set(month_key, repr(month), nx=True, ex=month_ttl)
            await pipe.execute()

    async def ping(self) -> None:
        await self.redis.ping()

    async def close(self) -> None:
        await self.redis.aclose()


def _budget_keys(name: str, now: float) -> tuple[str, str]:
    return f"{PREFIX}{name}:d:{day_label(now)}", f"{PREFIX}{name}:m:{month_label(now)}"
