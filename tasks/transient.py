"""Which failures are worth another attempt: only transient ones.

HTTP-level faults (429, 5xx) are already retried by the SDK pipeline honouring Retry-After; another attempt
of the step (a machine's, by `tasks.reconcile.drive` or `tasks.outcomes.each_machine`; a wave-wide task's, by
Prefect) covers what is left when those retries run out, or a connection that dropped. A 4xx is a
decision by Azure (bad input, a state that forbids the action) and retrying it changes nothing — except
409 `AnotherOperationInProgress`, ARM's "wait for the operation under way, then retry".
"""

from __future__ import annotations

from typing import Any

TRANSIENT_STATUSES = {408, 429, 500, 502, 503, 504}
RETRY_SECONDS = (30.0, 120.0)  # a machine's step that failed transiently is taken again after these, then it fails


def is_transient(exc: BaseException) -> bool:
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

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
