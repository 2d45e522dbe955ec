"""The post-migration smoke test: is the migrated server's application listening in Azure?

Right after cutover, while the maintenance window is still open and a roll back still possible, each
migrated VM is asked, through Azure's Run Command (the VM agent runs a script, so no network path or
credential is needed), whether its application's ports (`MachinePlan.app_ports`) and its OS's
management port accept a TCP connection on the VM itself. A closed port fails the machine: the
operator decides to fix, or to roll back inside the window.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.tasks.events import machine_event
from wavelift.tasks.harden import MANAGEMENT_PORT
from wavelift.tasks.outcomes import Done
from wavelift.tasks.plan_models import MachinePlan

if TYPE_CHECKING:
    from wavelift.tasks.journey import Facts, Trip

COMMAND = {"Linux": "RunShellScript", "Windows": "RunPowerShellScript"}  # Run Command's ids for the OS
ANSWER = re.compile(r"^(\d+) (open|closed)$", re.MULTILINE)


class SmokeTest(BaseModel):
    """One machine's smoke test."""

    machine: str
    open: list[int]
    closed: list[int]
    detail: str

    @property
    def ok(self) -> bool:
        return not self.closed and bool(self.open)


def probe_script(os_type: str, ports: list[int]) -> list[str]:
    """One line per port that prints `PORT open` or `PORT closed` (a local TCP connect, five seconds at most)."""
    if os_type == "Windows":
        return [
            f"if ((Test-NetConnection -ComputerName 127.0.0.1 -Port {p} -WarningAction SilentlyContinue)"
            f".TcpTestSucceeded) {{ '{p} open' }} else {{ '{p} closed' }}"
            for p in ports
        ]
    return [
        f"timeout 5 bash -c '</dev/tcp/127.0.0.1/{p}' 2>/dev/null && echo '{p} open' || echo '{p} closed'"
        for p in ports
    ]


def ports_of(machine: MachinePlan) -> list[int]:
    """The OS's management port first, then the application's."""
    management = MANAGEMENT_PORT[machine.os_type]
    return [management, *sorted(set(machine.app_ports) - {management})]


def smoke_test_machine(target_block: str, machine: MachinePlan) -> SmokeTest:
    """Probe the machine's ports from inside its Azure VM through Run Command."""
    from azure.mgmt.compute import models as cm

    target = load_for_run(AzureMigrationTarget, target_block)
    ports = ports_of(machine)
    result = (
        target.compute_client()
        .virtual_machines.begin_run_command(
            target.target_resource_group,
            machine.target_vm_name,
            cm.RunCommandInput(command_id=COMMAND[machine.os_type], script=probe_script(machine.os_type, ports)),
        )
        .result()
    )
    output = "\n".join(s.message or "" for s in result.value or [] if "StdErr" not in (s.code or ""))
    answers = {int(port): state == "open" for port, state in ANSWER.findall(output)}
    opened = [p for p in ports if answers.get(p)]
    closed = [p for p in ports if not answers.get(p)]  # no answer is no proof that it listens
    test = SmokeTest(
        machine=machine.display_name,
        open=opened,
        closed=closed,
        detail=(
            f"listening on {', '.join(map(str, opened))}"
            if not closed
            else f"NOT listening on {', '.join(map(str, closed))} (open: {', '.join(map(str, opened)) or 'none'}): "
            "fix the service, or roll back inside the window"
        ),
    )
    machine_event(machine, "smoke-test.passed" if test.ok else "smoke-test.failed", open=opened, closed=closed)
    return test


def smoke_test_step(trip: Trip, machine: MachinePlan, facts: Facts) -> Done:
    """The itinerary's smoke test: after cutover, while the window is open, is the application listening?"""
    test = smoke_test_machine(trip.target_block, machine)
    return Done(ok=test.ok, detail=test.detail, report=test)
