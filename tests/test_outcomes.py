"""The one failure policy's pieces: a failed machine keeps Azure's error, a run's final state counts the
failures, and a run that moved nothing says why instead of looking like success."""

from __future__ import annotations

from datetime import UTC, datetime, time

from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat

from wavelift.flows.cutover import nothing_moved
from wavelift.tasks.cutover import CutoverResult
from wavelift.tasks.outcomes import error_text, finish
from wavelift.tasks.plan_models import MaintenanceWindow


class _Response:
    """Just enough of an HTTP response for azure-core to read an ARM error body."""

    status_code, reason, headers, content_type = 409, "Conflict", {}, "application/json"
    request = HttpRequest("POST", "https://management.azure.com/x")

    def text(self, encoding: str | None = None) -> str:
        return '{"error": {"code": "OperationNotAllowed", "message": "Migrate is not allowed now."}}'

    def body(self) -> bytes:
        return self.text().encode()


def test_a_failure_keeps_azures_error_and_the_run_counts_them() -> None:
    refused = HttpResponseError(response=_Response(), error_format=ARMErrorFormat)
    assert error_text(refused) == "OperationNotAllowed: Migrate is not allowed now."
    assert error_text(TimeoutError("no answer")) == "TimeoutError: no answer"
    assert finish(["report"], "cutover of p", 3, {}) == ["report"]
    state = finish(["report"], "cutover of p", 3, {"web-02": "x", "web-01": "y"})
    assert state.is_completed() and state.name == "2 failed" and state.result() == ["report"]
    assert state.message == "cutover of p: 2 of 3 machine(s) failed: web-01: y; web-02: x"


def test_a_cutover_that_moved_nothing_says_why() -> None:
    def result(outcome: str, detail: str) -> CutoverResult:
        return CutoverResult(machine="m", item="i", outcome=outcome, detail=detail)

    window = MaintenanceWindow(timezone="Europe/London", days=["Sat"], start=time(22), end=time(5))
    closed = f"the maintenance window of wave wave-1 is {window.describe_closed(datetime(2026, 12, 2, 12, tzinfo=UTC))}"
    assert closed == "the maintenance window of wave wave-1 is closed until 22:00 Europe/London (Sat 2026-12-05)"
    results = (
        [result("skipped", "not signed off")] * 28
        + [result("skipped", closed)] * 2
        + [result("already-migrated", "done")]
    )
    assert nothing_moved(results) == f"nothing to cut over: 28 not signed off; 2 {closed}; 1 migrated earlier"


def test_prefect_out_of_reach_is_transient_and_its_refusals_are_not() -> None:
    """A step that could not reach Prefect (the sign-off ledger's lock: a slot acquisition that failed on a
    dropped connection) is taken again later; a limit that does not exist, or a 4xx, is not."""
    import httpx
    from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError

    from wavelift.tasks.transient import is_transient

    def raised(error: Exception, cause: Exception | None) -> Exception:
        try:
            raise error from cause
        except Exception as exc:  # noqa: BLE001 - the raised exception, with its cause attached
            return exc

    request = httpx.Request("POST", "http://127.0.0.1/api/v2/concurrency_limits/increment-with-lease")
    dropped = httpx.ConnectError("connection refused", request=request)
    failed = httpx.HTTPStatusError("503", request=request, response=httpx.Response(503, request=request))
    refused = httpx.HTTPStatusError("409", request=request, response=httpx.Response(409, request=request))
    assert is_transient(raised(ConcurrencySlotAcquisitionError("Unable to acquire"), dropped))
    assert is_transient(dropped) and is_transient(failed)
    assert not is_transient(raised(ConcurrencySlotAcquisitionError("must be created before acquiring"), None))
    assert not is_transient(refused)
