"""What hardening applies to a migrated VM: network access, disk encryption, backup and DR.

Microsoft's post-migration guidance: restrict inbound access with network security groups, encrypt
the disks, add a backup schedule. Values live in a block so operators review and change them in the
UI, per environment.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from prefect.blocks.core import Block
from pydantic import BaseModel, Field, field_validator, model_validator


class InboundRule(BaseModel):
    """An inbound port the VM serves, and from where."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,78}$", description="Rule name.")
    port: int = Field(ge=1, le=65535, description="Destination port.")
    protocol: Literal["Tcp", "Udp"] = Field(default="Tcp", description="Protocol.")
    sources: list[str] = Field(min_length=1, description="Source CIDRs (or Azure service tags such as VirtualNetwork).")


class HardeningPolicy(Block):
    """Network, encryption and backup settings applied to every migrated VM.

    Example:
        ```python
        from wavelift.blocks.hardening import HardeningPolicy
        policy = HardeningPolicy.load("BLOCK_NAME")
        print(policy.management_cidrs)
        ```
    """

    _block_type_name = "wavelift Hardening Policy"
    _block_type_slug = "wavelift-hardening-policy"
    _documentation_url = "https://learn.microsoft.com/azure/migrate/migrate-best-practices-security-management"

    management_cidrs: list[str] = Field(
        min_length=1, description="Networks allowed to reach the management ports (RDP for Windows, SSH for Linux)."
    )
    nsg_scope: Literal["machine", "tier"] = Field(
        default="machine",
        description="One NSG per machine (<vm>-nsg), or one per tier (nsg-<tier>) shared by the tier's machines.",
    )
    tier_tag: str = Field(
        default="tier",
        description="With per-tier NSGs: the plan tag whose value names a machine's tier; machines without it get "
        "their own NSG.",
    )
    extra_inbound: list[InboundRule] = Field(default_factory=list, description="Further inbound ports every VM serves.")
    allow_internet_inbound: bool = Field(
        default=False,
        description="Allow the extra inbound rules from the Internet; otherwise Internet sources are refused.",
    )
    encryption: Literal["azure_disk_encryption", "encryption_at_host", "none"] = Field(
        default="azure_disk_encryption",
        description="Azure Disk Encryption (the VM extension, with a Key Vault; Microsoft retires ADE in 2028) or "
        "encryption at host (its successor: "
        "the subscription needs the EncryptionAtHost feature, and the VM is deallocated for a minute while it is "
        "switched on).",
    )
    key_vault_url: str | None = Field(
        default=None, description="Key Vault URL for Azure Disk Encryption, e.g. https://kv-migration.vault.azure.net/."
    )
    key_vault_resource_id: str | None = Field(default=None, description="Resource id of that Key Vault.")
    backup_vault: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9-]{1,49}$",
        description="Recovery Services vault in the target region for Azure Backup (in the migration's resource "
        "group), created there if missing; empty means the migration vault, which must then be in the target region.",
    )
    backup_policy: str = Field(
        default="wavelift-daily", description="Name of the vault backup policy wavelift creates and uses."
    )
    backup_hour: int = Field(
        default=2, ge=0, le=23, description="Local hour (in the wave's time zone) of the daily backup."
    )
    retention_days: int = Field(default=30, ge=7, le=9999, description="Days a daily recovery point is kept.")
    disaster_recovery: bool = Field(
        default=True, description="Replicate every migrated VM to the target's secondary region (Site Recovery A2A)."
    )
    dr_vault: str | None = Field(
        default=None,
        description="Recovery Services vault in the secondary region for A2A; empty means '<migration vault>-dr', "
        "created if missing.",
    )
    dr_resource_group: str | None = Field(
        default=None,
        pattern=r"^[-\w._()]{1,90}$",
        description="Resource group in the secondary region for the replica disks and failover VMs; empty means "
        "'<target resource group>-asr', created there if missing.",
    )
    dr_cache_storage_account: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]{3,24}$",
        description="Storage account in the target region that stages A2A changes (the cache); empty means one "
        "named from the subscription and region, created in the target resource group if missing.",
    )
    dr_drill: bool = Field(
        default=False,
        description="Once per VM, run a DR test failover into the drill network, check the VM boots there, and clean "
        "it up.",
    )
    dr_drill_network_id: str | None = Field(
        default=None, description="Isolated virtual network in the secondary region for DR drills."
    )

    @field_validator("management_cidrs")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        for value in values:
            network = ipaddress.ip_network(value, strict=False)
            if network.prefixlen == 0:
                raise ValueError(f"{value} would open management ports to the whole Internet")
        return values

    @model_validator(mode="after")
    def _drill_network(self) -> HardeningPolicy:
        if self.dr_drill and not (self.disaster_recovery and self.dr_drill_network_id):
            raise ValueError(
                "a DR drill needs disaster_recovery on and dr_drill_network_id (an isolated network in the secondary "
                "region)"
            )
        return self
