"""ARM's token-bucket throttling: per operation type, a bucket that refills at a steady rate.

Azure Resource Manager (since 2024) gives each principal and subscription a bucket of 250 reads
refilling at 25/s, 200 writes at 10/s and 200 deletes at 10/s; an empty bucket answers 429 with an
integer Retry-After. The emulator applies the same buckets on the wall clock, since throttling is
about how fast the orchestrator calls, not about emulated time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from pydantic import BaseModel, Field


class BucketLimits(BaseModel):
    """Size and refill rate of one operation type's bucket."""

    burst: int = Field(gt=0)
    per_second: float = Field(gt=0)


class ThrottleLimits(BaseModel):
    """The buckets ARM applies; defaults are Azure's published numbers."""

    read: BucketLimits = BucketLimits(burst=250, per_second=25)
    write: BucketLimits = BucketLimits(burst=200, per_second=10)
    delete: BucketLimits = BucketLimits(burst=200, per_second=10)
    enabled: bool = True


@dataclass
class _Bucket:
    limits: BucketLimits
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """Take a token; return 0 on success or the seconds until one is available."""
        self.tokens = min(self.limits.burst, self.tokens + (now - self.stamp) * self.limits.per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.limits.per_second


class Throttle:
    """Decides for each ARM request whether it is served or throttled."""

    KIND_BY_METHOD = {"GET": "read", "HEAD": "read", "DELETE": "delete"}

    def __init__(self, limits: ThrottleLimits) -> None:
        self.configure(limits)
        self.throttled = 0

    def configure(self, limits: ThrottleLimits) -> None:
        now = time.monotonic()
        self.limits = limits
        self._buckets = {
            kind: _Bucket(getattr(limits, kind), getattr(limits, kind).burst, now)
            for kind in ("read", "write", "delete")
        }

    @classmethod
    def kind(cls, method: str) -> str:
        return cls.KIND_BY_METHOD.get(method.upper(), "write")

    def admit(self, method: str) -> tuple[int | None, dict[str, str]]:
        """Return (retry_after_seconds or None, rate-limit headers) for one request."""
        kind = self.kind(method)
        bucket = self._buckets[kind]
        header = f"x-ms-ratelimit-remaining-subscription-{kind}s"
        if not self.limits.enabled:
            return None, {}
        wait = bucket.take(time.monotonic())
        if wait:
            self.throttled += 1
            return max(1, math.ceil(wait)), {header: "0"}
        return None, {header: str(int(bucket.tokens))}
