"""The blocks that point wavelift at a running emulator, from the `connection.json` it writes: what the
demo saves, and what `wavelift emulator-blocks` saves for an operator trying wavelift by hand."""

from __future__ import annotations

import json
from pathlib import Path

from prefect.blocks.core import Block

MANAGEMENT_CIDR = "10.99.0.0/24"  # the emulated jump-host subnet the NSGs open RDP/SSH to
GRACE_HOURS = 24.0


def save_emulator_blocks(
    connection_file: Path,
    name: str,
    docs_folder: Path | None = None,
    grace_hours: float = GRACE_HOURS,
    arm_request_share: float | None = None,
) -> list[str]:
    """Save, all under `name`: the target (with its service-principal credentials), the backup catalog, the
    datastore, the source servers' power (for a roll back), a hardening policy (NSG, Azure Disk Encryption
    with the emulator's key vault, backup, DR) and a clean-up policy using those adapters (and a docs folder,
    if given); returns their references `<block-type-slug>/<name>`, the form a CleanupPolicy names adapters
    in. `arm_request_share` is the target's share of ARM's request budget (its default leaves a fifth to others)."""
    from wavelift.blocks.azure import AzureMigrationTarget
    from wavelift.blocks.cleanup import CleanupPolicy
    from wavelift.blocks.docs import DocsTarget
    from wavelift.blocks.hardening import HardeningPolicy
    from wavelift.blocks.onprem import HttpBackupCatalog, HttpSourcePower, LocalDatastore

    connection = json.loads(connection_file.read_text())
    catalog = HttpBackupCatalog(url=connection["backup_catalog_url"], ca_bundle=connection["ca_cert"])
    datastore = LocalDatastore(root=connection["san_path"])
    target = AzureMigrationTarget.from_emulator(connection_file)
    if arm_request_share is not None:
        target.arm_request_share = arm_request_share
    blocks: list[Block] = [
        target,
        catalog,
        datastore,
        HttpSourcePower(url=f"{connection['onprem_url']}/machines", ca_bundle=connection["ca_cert"]),
        HardeningPolicy(
            management_cidrs=[MANAGEMENT_CIDR],
            key_vault_url=connection["key_vault_url"],
            key_vault_resource_id=connection["key_vault_id"],
        ),
    ]
    if docs_folder is not None:
        blocks.append(DocsTarget(folder=str(docs_folder)))
    blocks.append(
        CleanupPolicy(
            hardening_policy=name,
            grace_period_hours=grace_hours,
            backup_catalog=f"{catalog.get_block_type_slug()}/{name}",
            datastore=f"{datastore.get_block_type_slug()}/{name}",
            docs_target=name if docs_folder is not None else None,
        )
    )
    for block in blocks:
        block.save(name, overwrite=True)
    return [f"{block.get_block_type_slug()}/{name}" for block in blocks]
