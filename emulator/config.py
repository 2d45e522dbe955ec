"""What an emulator instance is: its estate, its names, its speed and its capacity model."""

from __future__ import annotations

import uuid
from pathlib import Path

from pydantic import BaseModel, Field

from wavelift.emulator.estate import DiskProfile
from wavelift.emulator.throttle import ThrottleLimits


class CapacityModel(BaseModel):
    """How fast the replication appliances seed disks.

    A disk seeds at `disk_mbps` while it holds one of `parallel_disks` slots, slowed down only when
    the active disks together would exceed `bandwidth_mbps`. Azure Migrate's appliance seeds 52 disks
    in parallel; the default models six scale-out appliances, enough for 100 concurrent machines.
    """

    parallel_disks: int = Field(default=312, gt=0, description="Disks that seed at once, over all appliances.")
    vms_per_vcenter: int = Field(
        default=300,
        gt=0,
        description="Machines of one vCenter replicating at once (300 with one appliance, 500 with a scale-out "
        "appliance); Azure queues the others.",
    )
    disk_mbps: float = Field(default=40.0, gt=0, description="Seeding rate of one disk, MB/s.")
    bandwidth_mbps: float = Field(default=12_500.0, gt=0, description="Uplink shared by all seeding disks, MB/s.")
    enable_seconds: float = Field(default=120.0, ge=0, description="Emulated time of the enable-replication job.")
    delta_cycle_seconds: float = Field(
        default=3600.0, gt=0, description="Emulated time between delta-sync recovery points."
    )
    churn_per_hour: float = Field(default=0.01, ge=0, description="Share of a disk changed per emulated hour.")
    boot_seconds: float = Field(default=300.0, ge=0, description="Emulated time to create and boot a migrated VM.")
    test_migrate_seconds: float = Field(default=600.0, ge=0, description="Emulated time of a test migration.")
    cleanup_seconds: float = Field(default=300.0, ge=0, description="Emulated time of a test clean-up or a removal.")
    arm_seconds: float = Field(default=20.0, ge=0, description="Emulated time of ordinary ARM operations.")


def _uuid(seed: int, salt: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"wavelift-emulator/{seed}/{salt}"))


class EmulatorConfig(BaseModel):
    """Everything that defines one emulator instance."""

    machines: int = Field(default=20, ge=0, le=20_000)
    seed: int = 1
    disks: DiskProfile = Field(
        default="heavy-tailed", description="Disk sizes of the estate: heavy-tailed (realistic) or flat (benchmarks)."
    )
    speed: float = Field(default=60.0, gt=0, description="Emulated seconds per wall-clock second.")
    state_dir: Path
    page_size: int = Field(default=100, ge=1, le=1000)
    retry_after: int = Field(
        default=1, ge=0, description="Retry-After seconds on LRO answers (an integer, as Azure sends)."
    )
    region: str = "westeurope"
    secondary_region: str = "northeurope"
    resource_group: str = "rg-migrate"
    migrate_project: str = "wavelift-project"
    vault: str = "wavelift-vault"
    site: str = "wavelift-site"
    appliance: str = "wavelift-appliance"
    vcenters: int = Field(
        default=1,
        ge=1,
        le=10,
        description="vCenters the appliance discovers (up to ten), each with its run-as account.",
    )
    target_resource_group: str = "rg-target"
    target_vnet: str = "vnet-target"
    target_subnet: str = "default"
    test_vnet: str = "vnet-test"
    test_subnet: str = "default"
    security_resource_group: str = "rg-security"
    key_vault: str = Field(default="kv-wavelift", description="Key Vault for Azure Disk Encryption, in the region.")
    client_id: str = "wavelift-emulator-client"
    client_secret: str = "emulator-secret"
    capacity: CapacityModel = CapacityModel()
    vcpu_quota: dict[str, int] = Field(
        default_factory=dict,
        description="Regional vCPU limits by VM family (or 'cores' for the regional total) where they differ from "
        "the generous defaults: a subscription that needs a quota increase before a wave.",
    )
    unregistered_providers: list[str] = Field(
        default_factory=list,
        description="Resource provider namespaces the subscription has not registered (every other one is): "
        "requests to them are refused until `az provider register`.",
    )
    throttle: ThrottleLimits = ThrottleLimits()

    @property
    def subscription_id(self) -> str:
        return _uuid(self.seed, "subscription")

    @property
    def tenant_id(self) -> str:
        return _uuid(self.seed, "tenant")

    @property
    def san_dir(self) -> Path:
        return self.state_dir / "san"
