"""Long-running operations with ARM's semantics: 202, Azure-AsyncOperation, Location and Retry-After.

A handler starts an operation with the emulated duration it takes and a completion callback that
applies the state change. Clients poll the Azure-AsyncOperation URL (status body) or the Location URL
(202 until done, then the final resource), exactly as azure-core's `ARMPolling` expects.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wavelift.emulator.clock import EmulatedClock, iso
from wavelift.emulator.errors import ArmError
from wavelift.emulator.scheduler import Scheduler

STATUS_WORDS = {
    "replicationoperationstatus",
    "operationstatuses",
    "operationsstatus",
    "azureasyncoperations",
    "operations",  # a backup policy's (ProtectionPolicies_CreateOrUpdate_Simple.json)
}
RESULT_WORDS = {"replicationoperationresults", "operationresults"}

Result = Callable[[], tuple[int, Any]]


@dataclass
class Operation:
    """One long-running operation and where its monitors live."""

    id: str
    monitor_prefix: str
    status_word: str
    result_word: str
    started: float
    result: Result
    status: str = "InProgress"
    ended: float | None = None
    error: dict | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)

    def status_url(self, base_url: str) -> str:
        return f"{base_url}{self.monitor_prefix}/{self.status_word}/{self.id}"

    def result_url(self, base_url: str) -> str:
        return f"{base_url}{self.monitor_prefix}/{self.result_word}/{self.id}"


class Operations:
    """Starts operations, finishes them on the emulated clock, and answers their monitors."""

    def __init__(self, clock: EmulatedClock, scheduler: Scheduler, retry_after: int) -> None:
        self._clock = clock
        self._scheduler = scheduler
        self._retry_after = retry_after
        self._ops: dict[str, Operation] = {}
        self._pending_failures: list[Callable[[str], dict | None]] = []

    def start(
        self,
        *,
        monitor_prefix: str,
        api_version: str,
        duration: float,
        complete: Callable[[float], None],
        result: Result,
        fail: Callable[[float, dict], None] | None = None,
        injected_error: dict | None = None,
        style: str = "arm",
        operation_id: str | None = None,
    ) -> Operation:
        """Begin an operation that completes `duration` emulated seconds from now.

        `complete(t)` applies the success; `fail(t, error)` applies a failure (injected by a fault rule).
        `operation_id` names the operation in its monitor URLs (a Site Recovery job's name); a new one if None.
        """
        status_word, result_word = {
            "asr": ("replicationOperationStatus", "replicationOperationResults"),
            "backup": ("operationsStatus", "operationResults"),
            "backup-policy": ("operations", "operationResults"),
            "arm": ("operationStatuses", "operationResults"),
        }[style]
        now = self._clock.now()
        op = Operation(operation_id or uuid.uuid4().hex, monitor_prefix, status_word, result_word, now, result)
        op.extra_headers["api-version"] = api_version
        self._ops[op.id] = op

        def finish(t: float) -> None:
            op.ended = t
            if injected_error is not None:
                op.status, op.error = "Failed", injected_error
                if fail is not None:
                    fail(t, injected_error)
                return
            try:
                complete(t)
                op.status = "Succeeded"
            except ArmError as exc:  # the world changed under the operation: it fails as Azure's would
                op.status, op.error = "Failed", exc.body()["error"]
                if fail is not None:
                    fail(t, op.error)
            except Exception as exc:  # an emulator bug: the operation fails loudly instead of running for ever
                op.status, op.error = "Failed", {"code": "InternalServerError", "message": f"emulator: {exc!r}"}
                raise

        self._scheduler.at(now + max(0.0, duration), finish)
        return op

    def accepted_headers(self, op: Operation, base_url: str) -> dict[str, str]:
        """Headers of the initial 202 (or 201) answer."""
        api = op.extra_headers["api-version"]
        return {
            "Azure-AsyncOperation": f"{op.status_url(base_url)}?api-version={api}",
            "Location": f"{op.result_url(base_url)}?api-version={api}",
            "Retry-After": str(self._retry_after),
        }

    def find(self, word: str, op_id: str) -> Operation | None:
        """The operation a monitor URL asks about, if `word` is a monitor word and the id is known."""
        if word.lower() in STATUS_WORDS | RESULT_WORDS:
            return self._ops.get(op_id)
        return None

    def answer(self, word: str, op: Operation, base_url: str) -> tuple[int, Any, dict[str, str]]:
        """Answer a poll of the status URL (a status body) or the result URL (202 until done)."""
        retry = {"Retry-After": str(self._retry_after)} if op.status == "InProgress" else {}
        if word.lower() in STATUS_WORDS:
            body: dict[str, Any] = {
                "id": op.status_url(base_url),
                "name": op.id,
                "status": op.status,
                "startTime": iso(op.started),
            }
            if op.ended is not None:
                body["endTime"] = iso(op.ended)
            if op.error is not None:
                body["error"] = op.error
            return 200, body, retry
        if op.status == "InProgress":
            api = op.extra_headers["api-version"]
            return 202, None, {"Location": f"{op.result_url(base_url)}?api-version={api}", **retry}
        if op.status == "Failed":
            return 400, {"error": op.error}, {}
        status, body = op.result()
        return status, body, {}
