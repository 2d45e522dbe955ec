"""Prefect requests on the slot hand-over's path, sent again soon when SQLite refused them.

Prefect's server answers 503 when SQLite refuses a write that collided with another (`SQLITE_BUSY` in its deferred
transactions: `prefect/server/api/server.py:is_client_retryable_exception`), and Prefect's client sends a 503 again
after the response's `Retry-After`, else after 2 s, then 4, 8, ... (`prefect/client/base.py:_send_with_retry`):
right for a server that is down, not for a write that would pass a moment later. In the demo (SQLite, a flow
writing logs and events beside the leases) the leases of the first hundred replications stalled 2 s at a time, a
dozen times: the hundredth replication was enabled 34 s into the wave while the first small machine had finished
seeding after 9, so the 100-slot limit never bound. The slot client's response hook gives the first few 503s of a
request a `Retry-After` of a fraction of a second; later ones keep Prefect's back-off. PostgreSQL waits for its
row locks instead and does not answer so.
"""

from __future__ import annotations

import random

import httpx

PROMPT_TRIES = 3  # 503s of one request answered soon; Prefect's client makes at most 5 retries in all
PROMPT_PAUSE = (0.05, 0.25)  # seconds, at random: writers that collided do not collide again in step
_COUNT = "wavelift_prompt_503s"  # in the request's extensions: Prefect's client sends the same request again


def retry_soon_after_503(response: httpx.Response) -> None:
    """An httpx response hook: a 503 without `Retry-After`, among the first `PROMPT_TRIES` of its request, is
    given one of a fraction of a second."""
    if response.status_code != 503 or "Retry-After" in response.headers:
        return
    seen = response.request.extensions.get(_COUNT, 0)
    response.request.extensions[_COUNT] = seen + 1
    if seen < PROMPT_TRIES:
        response.headers["Retry-After"] = f"{random.uniform(*PROMPT_PAUSE):.3f}"
