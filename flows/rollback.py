"""`rollback_cutover`: power the source servers on again and stop their Azure VMs, for a cutover that failed
or was rejected inside the window. A dry run unless `execute` is set.

Only machines named in the request, only while their wave's window is open (or outside it with a written
reason), and always with who and why: they are logged, put on each Azure VM's tag and emitted with the
machine's event. The table artifact says per machine what was (or would be) done and what became of its
replication; the wave board shows the machines as rolled back.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, Field, model_validator

from wavelift.blocks.parameters import PlanName
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.parameters import PersonName, WaveName
from wavelift.tasks.board import refresh_board
from wavelift.tasks.discovery import discover_machines, onprem_identities, resolve_infrastructure
from wavelift.tasks.outcomes import each_machine, finish
from wavelift.tasks.rollback import RollbackResult, roll_back_machine, rollback_note

# Machines rolled back at once: the window is closing and the service is down; ARM's write budget, which the
# clients keep to (`blocks.arm_budget`), paces them beyond that.
PARALLEL_ROLLBACKS = 50


class RollbackRequest(BaseModel):
    """The roll-back form."""

    plan_name: PlanName
    wave: WaveName = Field(description="The wave whose cutover is rolled back.")
    machines: list[str] = Field(min_length=1, max_length=1000, description="The machines to roll back, by name.")
    reason: str = Field(min_length=10, max_length=200, description="Why (recorded on each Azure VM and in the run).")
    requested_by: PersonName = Field(description="Who decided the roll back.")
    source_power: str = Field(
        pattern=r"^[a-z0-9-]+/[a-z0-9-]+$",
        description="The SourcePower block that powers source servers on, as <block-type-slug>/<block-name>, "
        "e.g. wavelift-http-source-power/onprem.",
    )
    execute: bool = Field(default=False, description="Really roll back; off (the default) is a dry run.")
    outside_window_reason: str | None = Field(
        default=None,
        min_length=10,
        max_length=2000,
        description="Roll back outside the wave's window, for this reason.",
    )

    @model_validator(mode="after")
    def _unique(self) -> RollbackRequest:
        if len(set(self.machines)) != len(self.machines):
            raise ValueError("a machine is named twice")
        return self


@flow(name="rollback-cutover", flow_run_name="rollback-{request.plan_name}-{request.wave}")
def rollback_cutover(request: RollbackRequest) -> list[RollbackResult]:
    """Roll back the named machines of a wave: their Azure VMs stopped and tagged, their sources powered on."""
    plan = WavePlanBlock.load(request.plan_name).plan
    wave = plan.wave(request.wave)
    by_name = {m.display_name: m for m in wave.machines}
    unknown = sorted(set(request.machines) - set(by_name))
    if unknown:
        raise LookupError(f"wave {wave.name} has no machine {', '.join(unknown)}; its machines: {', '.join(by_name)}")
    now = datetime.now(UTC)
    if wave.window.open_at(now) is None:
        if not request.outside_window_reason:
            raise PermissionError(
                f"the maintenance window of wave {wave.name} is {wave.window.describe_closed(now)}: roll back inside "
                "it, or give outside_window_reason"
            )
        get_run_logger().warning("Rolling back OUTSIDE the window of %s: %s", wave.name, request.outside_window_reason)
    machines = [by_name[name] for name in request.machines]
    infra = resolve_infrastructure(plan.target_block)
    identities = onprem_identities(machines, discover_machines(plan.target_block))
    note = rollback_note(request.requested_by, request.reason, now)
    results = each_machine(
        machines,
        lambda m: roll_back_machine(
            plan.target_block, infra, m, identities[m.source_name], request.source_power, note, request.execute
        ),
        lambda m, error: RollbackResult(
            machine=m.display_name, outcome="refused", actions=[], replication="", detail=f"roll back failed: {error}"
        ),
        PARALLEL_ROLLBACKS,
    )
    for r in results:  # the run's history, a line a machine
        get_run_logger().info("%s: %s: %s", r.machine, r.outcome, "; ".join(r.actions) or r.detail)
    mode = "" if request.execute else "DRY RUN — nothing was changed. "
    create_table_artifact(
        key=f"rollback-{request.plan_name}-{request.wave}",
        table=[
            {
                "machine": r.machine,
                "outcome": r.outcome,
                "actions": "; ".join(r.actions),
                "replication": r.replication,
                "detail": r.detail,
            }
            for r in results
        ],
        description=f"{mode}Roll back in {request.plan_name}/{request.wave}, {note}.",
    )
    failures = {r.machine: r.detail for r in results if r.outcome == "refused"}
    refresh_board(plan.target_block, request.plan_name, wave, infra.vault_id, failures)
    return finish(results, f"roll back in {request.plan_name}/{request.wave}", len(results), failures)
