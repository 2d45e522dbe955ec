"""One failure policy for every flow: a machine that fails becomes a failed row, the wave goes on.

A task that raises for one machine used to end the whole run (and its report) when the flow called
`.result()`; replicate-wave raised at its end and aborted migrate-wave. Now every flow runs its machines
with `each_machine` (or `tasks.reconcile.drive`), turns a raised error into that phase's failed row (keeping
Azure's error code and message), always publishes its report, and ends in a state whose name and message say
how many machines failed (`finish`), visible in the runs list and to `prefect deployment run --watch`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from typing import Any, TypeVar

from azure.core.exceptions import HttpResponseError
from prefect import get_run_logger
from prefect.states import Completed
from pydantic import BaseModel

from wavelift.tasks.lifecycle import MachineState
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.transient import RETRY_SECONDS, is_transient

R = TypeVar("R")


class Done(BaseModel):
    """What one step of a machine's itinerary did: whether it ended well, in a line, and the step's own report
    (the replication outcome, the test report, the sign-off, the cutover result...)."""

    ok: bool
    detail: str
    report: Any = None
    # The machine as the step itself last read it (Azure's answer to its last write, or its check): the check
    # after the step uses it instead of reading the machine again. None: the check reads it.
    observed: MachineState | None = None
    # The step's own first read found the machine where it takes no step (rolled back meanwhile, say) and it changed
    # nothing: why. The pass counts as no step taken, as if the machine had been read before it (`Step.reads_first`).
    left_alone: str | None = None


def error_text(exc: BaseException) -> str:
    """Azure's error code and message when Azure refused, else the exception's type and text."""
    if isinstance(exc, HttpResponseError):
        if exc.error and exc.error.code:
            return f"{exc.error.code}: {exc.error.message}"
        return f"{exc.status_code}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


def each_machine(
    machines: Sequence[MachinePlan],
    act: Callable[[MachinePlan], R],
    failed: Callable[[MachinePlan, str], R],
    threads: int,
) -> list[R]:
    """`act(machine)` for every machine, `threads` at a time, each in a copy of the flow run's context (its logger,
    its events' related resources); a transient error is tried again after each of `RETRY_SECONDS`. Each
    machine's result in order, `failed(machine, error)` for one that raised. Not a Prefect task per machine: at a
    thousand machines their events and rows in Prefect's database outweighed the work."""

    def attempt(machine: MachinePlan) -> R:
        for pause in RETRY_SECONDS:
            try:
                return act(machine)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                get_run_logger().warning("%s: %s; again in %.0f s", machine.display_name, error_text(exc), pause)
                time.sleep(pause)
        return act(machine)

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wavelift-machine") as pool:
        futures = [(machine, pool.submit(copy_context().run, attempt, machine)) for machine in machines]
    return gather(futures, failed)


def gather(futures: Sequence[tuple[MachinePlan, Future[R]]], failed: Callable[[MachinePlan, str], R]) -> list[R]:
    """Each machine's result, in order; a machine whose step raised gets `failed(machine, error)` instead."""
    results: list[R] = []
    for machine, future in futures:
        try:
            results.append(future.result())
        except Exception as exc:  # noqa: BLE001 - one machine's failure is its row, never the run's end
            results.append(failed(machine, error_text(exc)))
    return results


def finish(data: Any, what: str, total: int, failures: dict[str, str]) -> Any:
    """The run's result, as it is when nothing failed; otherwise a Completed state named after the failures
    whose message lists them (the data still reaches a parent flow)."""
    if not failures:
        return data
    listed = "; ".join(f"{machine}: {error}" for machine, error in sorted(failures.items())[:10])
    more = f" (and {len(failures) - 10} more)" if len(failures) > 10 else ""
    return Completed(
        data=data,
        name=f"{len(failures)} failed",
        message=f"{what}: {len(failures)} of {total} machine(s) failed: {listed}{more}",
    )
