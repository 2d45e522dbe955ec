"""Which failures are worth another attempt: only transient ones.

HTTP-level faults (429, 5xx) are already retried by the SDK pipeline honouring Retry-After; another attempt
of the step (a machine's, by `tasks.reconcile.drive` or `tasks.outcomes.each_machine`; a wave-wide task's, by
Prefect) covers what is left when those retries run out, or a connection that dropped. A 4xx is a
decision by Azure (bad input, a state that forbids the action) and retrying it changes nothing — except
409 `AnotherOperationInProgress`, ARM's "wait for the operation under way, then retry". Prefect out of reach
(a dropped connection, a 5xx) is transient too.
"""

from __future__ import annotations

from typing import Any

import httpx

TRANSIENT_STATUSES = {408, 429, 500, 502, 503, 504}
RETRY_SECONDS = (30.0, 120.0)  # a machine's step that failed transiently is taken again after these, then it fails


def prefect_unreachable(exc: BaseException) -> bool:
    """Whether Prefect could not be reached or failed on its side (worth waiting for), as opposed to saying no.
    Prefect's own wrappers are judged by their cause: a concurrency-slot acquisition whose connection failed
    raises `ConcurrencySlotAcquisitionError` from an `httpx.ConnectError` (seen on the sign-off ledger's lock when
    the server could not be reached)."""
    for error in (exc, exc.__cause__):
        if isinstance(error, httpx.HTTPStatusError):
            return error.response.status_code >= 500
        if isinstance(error, httpx.TransportError):
            return True
    return False


def is_transient(exc: BaseException) -> bool:
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if prefect_unreachable(exc):
        return True  # losing Prefect for a while delays a machine, never fails it
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return True
    if not isinstance(exc, HttpResponseError):
        return False
    busy = exc.status_code == 409 and exc.error is not None and exc.error.code == "AnotherOperationInProgress"
    return busy or exc.status_code in TRANSIENT_STATUSES


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """`retry_condition_fn` for Prefect tasks: retry only when the failure was transient."""
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - the point is to classify whatever the task raised
        return is_transient(exc)
    return False
