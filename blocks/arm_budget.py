"""ARM's request budget, kept by the client: a process never asks faster than Azure Resource Manager serves.

ARM gives each principal and subscription a token bucket per kind of request (reads 250, refilling at
25/s; writes 200 at 10/s; deletes 200 at 10/s: Learn, "Understand how Azure Resource Manager throttles
requests"); past it, requests get 429 and a Retry-After. azure-core's retry policy honours that, but
only ten times: a wave whose steps poll more than the budget allows (a hundred seedings, twenty test
migrations, cutovers and hardening at once) has most requests refused, and some refused ten times in a
row, which failed machines. Here every request of the process's ARM clients first takes a token from
a bucket of its subscription and kind, a share of ARM's, so requests queue in the process instead.
With several workers on one subscription, give each a share that adds up to at most one.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

ARM_BUCKETS = {"read": (250, 25.0), "write": (200, 10.0), "delete": (200, 10.0)}  # burst, refill per second
GROUP_SECONDS = 0.25  # a bucket refills about this often, with the tokens of that time (`TokenBucket`)
_SUBSCRIPTION = re.compile(r"/subscriptions/([^/?]+)", re.IGNORECASE)


def kind_of(method: str) -> str:
    """ARM's kind of a request: reads are GET and HEAD, deletes DELETE, every other method a write."""
    method = method.upper()
    return "read" if method in ("GET", "HEAD") else "delete" if method == "DELETE" else "write"


class TokenBucket:
    """A bucket of `burst` tokens refilled `group` at a time (`per_second` on average); `take` waits for a token
    rather than failing.

    Tokens come in groups because a request made after the process sat idle costs more CPU than one made right
    after another: `bench/request_cost.py` measured an SDK read at 1.25 to 1.5 times the CPU when made 50 ms after
    the last one (a read budget of 20 a second spaces requests so), and reads made five at a time at the same
    average rate at 0.7 (one thread) to 0.8 (ten threads) times the CPU of reads spaced evenly. That was on a slow
    hour of the machine; on a fast one the two cost about the same (0.94 and 1.08). The rate ARM sees is the same;
    a request waits at most one refill's time longer, and only when the process is over its budget."""

    def __init__(
        self,
        burst: float,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        group: int = 1,
    ) -> None:
        if group > burst:
            raise ValueError(f"a refill of {group} tokens does not fit a bucket of {burst}")
        self.burst, self.per_second, self.group = burst, per_second, group
        self._step = group / per_second  # seconds between two refills
        self._clock, self._sleep = clock, sleep
        self._tokens, self._stamp = burst, clock()  # the tokens left at the last refill's time
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take one token, waiting until there is one; returns the seconds waited."""
        with self._lock:  # tokens are promised in arrival order; each caller sleeps out its own wait
            now = self._clock()
            # a caller woken for a refill is counted at it, though its clock may read a hair before
            refills = max(0, math.floor((now - self._stamp) / self._step + 1e-9))
            self._tokens = min(self.burst, self._tokens + refills * self.group) - 1
            self._stamp += refills * self._step
            owed = 0 if self._tokens >= 0 else math.ceil(-self._tokens / self.group)  # refills until this token
            wait = max(0.0, self._stamp + owed * self._step - now) if owed else 0.0
        if wait:
            self._sleep(wait)
        return wait


class ArmBudget:
    """The process's buckets, one per subscription and kind, each `share` of ARM's."""

    _budgets: ClassVar[dict[float, ArmBudget]] = {}
    _budgets_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, share: float) -> None:
        self.share = share
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, share: float) -> ArmBudget:
        with cls._budgets_lock:
            return cls._budgets.setdefault(share, cls(share))

    def bucket(self, subscription: str, kind: str) -> TokenBucket:
        with self._lock:
            key = (subscription.lower(), kind)
            if key not in self._buckets:
                burst, per_second = ARM_BUCKETS[kind]
                rate = per_second * self.share
                group = max(1, round(rate * GROUP_SECONDS))
                self._buckets[key] = TokenBucket(max(1.0, burst * self.share), rate, group=group)
            return self._buckets[key]

    def request_hook(self, request: Any) -> None:
        """azure-core's `raw_request_hook`: runs before each attempt of each request (retries included)."""
        http = request.http_request
        match = _SUBSCRIPTION.search(http.url)
        if match:
            self.bucket(match.group(1), kind_of(http.method)).take()
