"""Rate limits (rateLimited, HTTP 429 with Retry-After in integer seconds; RFC 8555 §6.6).

- Requests per client IP per second: a token bucket per address, in this process (each instance limits what it
  receives; a load balancer in front spreads one client over several, which is acceptable for abuse control).
- New orders per account per hour: counted in the shared database, so the limit holds across instances.
A limit of 0 disables it.
"""

from __future__ import annotations

import datetime as dt
import math
import time

from enrollment_gateway.config import AcmeSettings

from . import problems

_MAX_TRACKED = 65536  # addresses; the table is emptied when it grows past this (a flood of sources)


class RateLimiter:
    def __init__(self, settings: AcmeSettings, monotonic=time.monotonic) -> None:
        self._per_ip = settings.rate_limit_requests_per_ip_per_second
        self._orders_per_hour = settings.rate_limit_orders_per_account_per_hour
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, last refill)

    def check_ip(self, address: str | None) -> None:
        if self._per_ip <= 0 or not address:
            return
        now = self._monotonic()
        tokens, last = self._buckets.get(address, (float(self._per_ip), now))
        tokens = min(float(self._per_ip), tokens + (now - last) * self._per_ip)
        if tokens < 1.0:
            self._buckets[address] = (tokens, now)
            raise problems.rate_limited(f"too many requests from {address}: at most {self._per_ip} per second",
                                        retry_after=1)
        if len(self._buckets) >= _MAX_TRACKED and address not in self._buckets:
            self._buckets.clear()
        self._buckets[address] = (tokens - 1.0, now)

    async def check_new_order(self, repo, account_id: str, now: dt.datetime) -> None:
        if self._orders_per_hour <= 0:
            return
        since = now - dt.timedelta(hours=1)
        if await repo.orders_since(account_id, since) >= self._orders_per_hour:
            # The oldest order in the window leaves it within the hour; a client retrying sooner is refused again.
            raise problems.rate_limited(
                f"too many new orders for this account: at most {self._orders_per_hour} per hour",
                retry_after=max(1, math.ceil(3600 / self._orders_per_hour)))
