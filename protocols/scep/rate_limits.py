"""Wrong challenge passwords per source address: after MAX_FAILURES within WINDOW_SECONDS, enrolments with a
challenge from that address are refused (FAILURE badRequest) until the window passes; renewals signed by a
certificate of ours still get through (devices behind one NAT address keep renewing during a guessing attack).

Per process, like ACME's per-IP bucket: each instance counts what it receives (an attacker spread over several
instances by a load balancer gets MAX_FAILURES per instance). Nothing invalidates an entry but time; the table is
emptied if it grows past _MAX_TRACKED addresses.
"""

from __future__ import annotations

import time

MAX_FAILURES = 10
WINDOW_SECONDS = 300.0
_MAX_TRACKED = 65536


class ChallengeLimiter:
    def __init__(self, max_failures: int = MAX_FAILURES, window: float = WINDOW_SECONDS,
                 monotonic=time.monotonic) -> None:
        self._max, self._window, self._monotonic = max_failures, window, monotonic
        self._failures: dict[str, tuple[int, float]] = {}  # address -> (count, window start)

    def blocked(self, address: str | None) -> bool:
        if not address or self._max <= 0:
            return False
        count, start = self._failures.get(address, (0, 0.0))
        if self._monotonic() - start > self._window:
            self._failures.pop(address, None)
            return False
        return count >= self._max

    def failed(self, address: str | None) -> None:
        if not address:
            return
        now = self._monotonic()
        count, start = self._failures.get(address, (0, now))
        if now - start > self._window:
            count, start = 0, now
        if len(self._failures) >= _MAX_TRACKED and address not in self._failures:
            self._failures.clear()
        self._failures[address] = (count + 1, start)
