"""The blocks that point wavelift at a running emulator, from the `connection.json` it writes: what the
demo saves, and what `wavelift emulator-blocks` saves for an operator trying wavelift by hand."""

from __future__ import annotations

import json
from pathlib import Path


def save_emulator_blocks(connection_file: Path, name: str) -> list[str]:
    """Save the target (with its service-principal credentials), the backup catalog and the datastore under
    `name`; returns their `<block-type-slug>/<name>` references, as a CleanupPolicy names adapters."""
    from blocks.azure import AzureMigrationTarget
    from blocks.onprem import HttpBackupCatalog, LocalDatastore

    connection = json.loads(connection_file.read_text())
    blocks = [
        AzureMigrationTarget.from_emulator(connection_file),
        HttpBackupCatalog(url=connection["backup_catalog_url"], ca_bundle=connection["ca_cert"]),
        LocalDatastore(root=connection["san_path"]),
    ]
    for block in blocks:
        block.save(name, overwrite=True)
    return [f"{block.get_block_type_slug()}/{name}" for block in blocks]
