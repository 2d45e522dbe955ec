"""`inventory`: check that wavelift reaches the Azure Migrate project, and report what it discovered.

The first flow an operator runs against a new target: it proves the credentials, endpoint and
vault work, and publishes the discovered servers and the replication infrastructure as artifacts.
"""

from __future__ import annotations

from collections import Counter

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel

from wavelift.blocks.parameters import TargetName
from wavelift.tasks.discovery import (
    DiscoveredMachine,
    ReplicationInfrastructure,
    discover_machines,
    resolve_infrastructure,
)


class InventoryReport(BaseModel):
    """What the inventory found."""

    machines: list[DiscoveredMachine]
    infrastructure: ReplicationInfrastructure

    @property
    def total_disk_gb(self) -> int:
        return sum(d.size_gb for m in self.machines for d in m.disks)


@flow(name="inventory", flow_run_name="inventory-{target_block}")
def inventory(target_block: TargetName) -> InventoryReport:
    """Discover the servers and resolve the vault's replication infrastructure.

    Args:
        target_block: The wavelift Azure Migration Target block to read.
    """
    machines_future = discover_machines.submit(target_block)
    infrastructure = resolve_infrastructure(target_block)
    report = InventoryReport(machines=machines_future.result(), infrastructure=infrastructure)
    create_table_artifact(
        key="inventory-machines",
        table=[
            {
                "machine": m.display_name,
                "os": m.os_name,
                "cores": m.cores,
                "memory_mb": m.memory_mb,
                "disks": len(m.disks),
                "disk_gb": sum(d.size_gb for d in m.disks),
                "ip": ", ".join(m.ip_addresses),
                "power": m.power_status,
            }
            for m in report.machines
        ],
        description="Servers discovered by the Azure Migrate appliance.",
    )
    by_os = Counter(m.os_type for m in report.machines)
    create_markdown_artifact(
        key="inventory-summary",
        markdown="\n".join(
            [
                f"# Inventory of {target_block}",
                "",
                f"- **{len(report.machines)}** servers ({', '.join(f'{n} {os}' for os, n in sorted(by_os.items()))}), "
                f"{report.total_disk_gb:,} GB of disks",
                f"- vault `{infrastructure.vault_id.rsplit('/', 1)[1]}`, fabric `{infrastructure.fabric}`, container "
                f"`{infrastructure.container}`",
                f"- policy `{infrastructure.policy_id.rsplit('/', 1)[1]}`, target location "
                f"`{infrastructure.target_location}`",
            ]
        ),
        description="Discovery and replication infrastructure at a glance.",
    )
    return report
