"""What runs inside a migrated VM, as far as Run Command can see: the ports its services listen on.

The emulator runs no guest, so it answers the one kind of script wavelift's smoke test sends, a TCP
probe of a local port per line (bash's `/dev/tcp/127.0.0.1/PORT` on Linux, `Test-NetConnection -Port
PORT` on Windows), from the ports the source server's role listens on; any other line prints nothing.
"""

from __future__ import annotations

import re

from wavelift.emulator.estate import SourceMachine

MANAGEMENT = {"Linux": 22, "Windows": 3389}
ROLE_PORTS = {"web": {80, 443}, "app": {8080}, "svc": {8443}}
DATABASE = {"Linux": 5432, "Windows": 1433}
PROBES = {
    "RunShellScript": re.compile(r"/dev/tcp/127\.0\.0\.1/(\d+)"),
    "RunPowerShellScript": re.compile(r"Test-NetConnection\b.*-Port\s+(\d+)", re.IGNORECASE),
}
COMMAND_FOR_OS = {"Linux": "RunShellScript", "Windows": "RunPowerShellScript"}


def listening_ports(os_type: str, machine: SourceMachine | None) -> set[int]:
    """The management port of the OS, plus what the server's role serves (its name says: `crm-web-0001`)."""
    ports = {MANAGEMENT.get(os_type, 22)}
    if machine is not None:
        role = machine.display_name.rsplit("-", 2)[-2] if machine.display_name.count("-") >= 2 else ""
        ports |= {DATABASE.get(os_type, 5432)} if role == "db" else ROLE_PORTS.get(role, set())
    return ports


def run_script(command_id: str, script: list[str], ports: set[int]) -> str:
    """The standard output of a probe script: `PORT open` or `PORT closed` for each probed port."""
    probe = PROBES[command_id]
    lines = []
    for line in script:
        if match := probe.search(line):
            port = int(match.group(1))
            lines.append(f"{port} {'open' if port in ports else 'closed'}")
    return "\n".join(lines)
