"""What the clean-up after a cutover may remove, and when (DESIGN rule 4).

The gates are fixed — the Azure VM verified running, protected by a completed backup, and the grace
period passed since it was created by the cutover —; the policy says how long the grace period is and
where the on-prem adapters, the backup/DR settings and the docs live.
"""

from __future__ import annotations

from typing import TypeVar

from prefect.blocks.core import Block
from pydantic import Field

from wavelift.blocks.loading import load_for_run
from wavelift.blocks.onprem import BackupCatalog, DiskDatastore
from wavelift.tasks.names import BLOCK_NAME_PATTERN

Adapter = TypeVar("Adapter", bound=Block)

BLOCK_SLUG = r"^[a-z0-9-]+/[a-z0-9-]+$"


class CleanupPolicy(Block):
    """Grace period and adapters for `cleanup-wave`.

    Example:
        ```python
        from wavelift.blocks.cleanup import CleanupPolicy
        policy = CleanupPolicy.load("BLOCK_NAME")
        print(policy.grace_period_hours)
        ```
    """

    _block_type_name = "wavelift Cleanup Policy"
    _block_type_slug = "wavelift-cleanup-policy"
    _documentation_url = "https://learn.microsoft.com/azure/migrate/migrate-best-practices-costs#best-practice-decommission-on-premises-resources"

    hardening_policy: str = Field(
        pattern=BLOCK_NAME_PATTERN,
        description="HardeningPolicy block the wave was hardened with: where its backup policy and DR vault are.",
    )
    grace_period_hours: float = Field(
        default=168.0,
        ge=0,
        le=24 * 365,
        description="Hours the Azure VM must have run since the cutover before on-prem copies go.",
    )
    complete_migration: bool = Field(
        default=True,
        description="Complete the migration (remove the replication and its resources) once the VM is verified "
        "running.",
    )
    backup_catalog: str | None = Field(
        default=None,
        pattern=BLOCK_SLUG,
        description="On-prem backup catalog block as '<block-type-slug>/<block-name>'; empty leaves local backups "
        "alone.",
    )
    datastore: str | None = Field(
        default=None,
        pattern=BLOCK_SLUG,
        description="Datastore block as '<block-type-slug>/<block-name>'; empty leaves disk files alone.",
    )
    docs_target: str | None = Field(
        default=None,
        pattern=BLOCK_NAME_PATTERN,
        description="DocsTarget block for the as-built records; empty publishes them as artifacts only.",
    )

    def catalog(self) -> BackupCatalog | None:
        """The on-prem backup catalog adapter, or None when the policy leaves local backups alone."""
        return _adapter(self.backup_catalog, BackupCatalog)

    def disks(self) -> DiskDatastore | None:
        """The datastore adapter, or None when the policy leaves disk files alone."""
        return _adapter(self.datastore, DiskDatastore)


def _adapter(reference: str | None, kind: type[Adapter]) -> Adapter | None:
    """Load a block by `<block-type-slug>/<block-name>`, refusing one of the wrong kind."""
    if not reference:
        return None
    block = load_for_run(Block, reference)
    if not isinstance(block, kind):
        raise TypeError(f"{reference} is a {type(block).__name__}, not a {kind.__name__} block")
    return block
