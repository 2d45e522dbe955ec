"""Discovery: what Azure Migrate's appliance found on-prem, and the replication infrastructure the
project's vault offers (resolved the way Az.Migrate's `New-AzMigrateServerReplication` does)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from prefect import get_run_logger, task
from pydantic import BaseModel, Field

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.tasks.arm import get_json, list_json
from wavelift.tasks.names import same_resource
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.transient import retry_transient

T = TypeVar("T")
OFFAZURE_API = "2020-01-01"
MIGRATE_API = "2018-09-01-preview"
MIGRATION_SOLUTION = "Servers-Migration-ServerMigration"


class DiscoveredDisk(BaseModel):
    """A source disk as VMware reports it."""

    uuid: str
    name: str
    size_gb: int


class DiscoveredMachine(BaseModel):
    """A server the Azure Migrate appliance discovered (a Microsoft.OffAzure VMware machine)."""

    id: str = Field(description="ARM id of the discovered machine (the vmwareMachineId of replication).")
    name: str = Field(description="OffAzure machine name, also the migration item's name.")
    display_name: str
    os_type: str
    os_name: str
    cores: int
    memory_mb: float
    disks: list[DiscoveredDisk]
    ip_addresses: list[str]
    power_status: str
    vcenter_id: str | None = None
    firmware: str | None = Field(default=None, description="'bios' or 'efi', as the appliance discovered it.")


class ReplicationInfrastructure(BaseModel):
    """Where a VMware machine's replication is created in the vault, and with which accounts."""

    vault_id: str
    fabric: str
    container: str
    policy_id: str
    log_storage_account_id: str
    target_location: str
    run_as_account_id: str = Field(description="The first vCenter's run-as account (for a machine that names none).")
    run_as_by_vcenter: dict[str, str] = Field(
        default_factory=dict, description="Run-as account of each vCenter of the site, by lower-cased vCenter id."
    )

    def run_as_for(self, vcenter_id: str | None) -> str:
        """The run-as account of the machine's own vCenter, as Az.Migrate follows vCenterId (an appliance serves
        up to ten vCenters, each with its own credentials)."""
        return self.run_as_by_vcenter.get((vcenter_id or "").lower(), self.run_as_account_id)

    def item_args(self, item_name: str) -> tuple[str, str, str, str, str]:
        """The leading arguments of every `replication_migration_items` call for one item."""
        return vault_scope(self.vault_id) + (self.fabric, self.container, item_name)


def vault_scope(vault_id: str) -> tuple[str, str]:
    """(resource group, vault name) of a vault's ARM id, as the Site Recovery SDK takes them."""
    return vault_id.split("/")[4], vault_id.rsplit("/", 1)[1]


def os_family(vmware_os_type: str | None) -> str:
    """Windows or Linux from VMware's guest type (`windowsguest`, `linuxguest`, ...)."""
    value = (vmware_os_type or "").lower()
    return "Windows" if value.startswith("windows") else "Linux" if value else ""


def parse_machine(raw: dict) -> DiscoveredMachine:
    props = raw["properties"]
    os_details = props.get("operatingSystemDetails") or {}
    return DiscoveredMachine(
        id=raw["id"],
        name=raw["name"],
        display_name=props.get("displayName") or raw["name"],
        os_type=os_family(os_details.get("osType")),
        os_name=os_details.get("osName") or "",
        cores=props.get("numberOfProcessorCore", 0),
        memory_mb=props.get("allocatedMemoryInMB", 0),
        disks=[
            DiscoveredDisk(uuid=d["uuid"], name=d.get("name", ""), size_gb=int(d.get("maxSizeInBytes", 0)) // 1024**3)
            for d in props.get("disks", [])
        ],
        ip_addresses=[ip for nic in props.get("networkAdapters", []) for ip in nic.get("ipAddressList", [])],
        power_status=props.get("powerStatus", ""),
        vcenter_id=props.get("vCenterId"),
        firmware=(props.get("firmware") or "").lower() or None,
    )


def onprem_identity(machine: MachinePlan, discovered: list[DiscoveredMachine]) -> str:
    """The name by which on-prem systems know a plan's machine, taken from discovery, never from the plan
    (DESIGN rule 8). Raises `LookupError` saying why when the plan's entry is not one discovered machine
    whose name no other discovered machine shares, even in another case: then no on-prem adapter may act."""
    found = [d for d in discovered if same_resource(d.id, machine.machine_id)]
    if len(found) != 1 or found[0].name != machine.source_name:
        raise LookupError(
            f"{machine.display_name}: the plan's machine {machine.machine_id} is not a machine the appliance discovered"
        )
    server = found[0].display_name
    if machine.display_name != server:
        raise LookupError(f"the plan calls the machine {machine.display_name!r} but discovery calls it {server!r}")
    twins = [d.id for d in discovered if d.display_name.lower() == server.lower() and d is not found[0]]
    if twins:
        raise LookupError(
            f"{server!r}: {len(twins)} other discovered machine(s) have the same name up to case, so on-prem systems "
            "cannot tell them apart"
        )
    return server


class OnPremIdentity(BaseModel):
    """Whom the on-prem adapters may act on for a plan's machine: its discovered name, or why nobody."""

    server: str | None
    problem: str | None = None


def onprem_identities(machines: list[MachinePlan], discovered: list[DiscoveredMachine]) -> dict[str, OnPremIdentity]:
    """Each machine's on-prem name from discovery (by source name), or why the on-prem adapters may not act."""
    identities = {}
    for machine in machines:
        try:
            identities[machine.source_name] = OnPremIdentity(server=onprem_identity(machine, discovered))
        except LookupError as exc:
            identities[machine.source_name] = OnPremIdentity(server=None, problem=str(exc))
    return identities


def _first(items: Iterable[T], missing: str) -> T:
    """The first item, or a clear error naming what the vault lacks."""
    for item in items:
        return item
    raise LookupError(missing)


def _site_path(target: AzureMigrationTarget) -> str:
    rg_id = f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}"
    return f"{rg_id}/providers/Microsoft.OffAzure/VMwareSites/{target.site}"


@task(
    task_run_name="discover-machines-{target_block}",
    retries=3,
    retry_delay_seconds=[5, 20, 60],
    retry_condition_fn=retry_transient,
)
def discover_machines(target_block: str) -> list[DiscoveredMachine]:
    """All machines of the project's VMware site, except those the appliance marked deleted."""
    target = load_for_run(AzureMigrationTarget, target_block)
    client = target.site_recovery_client()
    machines = [
        parse_machine(m)
        for m in list_json(client, f"{_site_path(target)}/machines", OFFAZURE_API)
        if not m["properties"].get("isDeleted")
    ]
    get_run_logger().info("Discovered %d machines in site %s", len(machines), target.site)
    return machines


@task(
    task_run_name="resolve-replication-infrastructure-{target_block}",
    retries=3,
    retry_delay_seconds=[5, 20, 60],
    retry_condition_fn=retry_transient,
)
def resolve_infrastructure(target_block: str) -> ReplicationInfrastructure:
    """Vault from the project's migration solution; fabric of the VMware site; first container;
    policy `migrate{site}policy`; log storage from the container mapping; run-as from the vCenter."""
    target = load_for_run(AzureMigrationTarget, target_block)
    client = target.site_recovery_client()
    rg_id = f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}"
    project = f"{rg_id}/providers/Microsoft.Migrate/migrateProjects/{target.migrate_project}"
    solution = get_json(client, f"{project}/solutions/{MIGRATION_SOLUTION}", MIGRATE_API)
    vault_id = solution["properties"]["details"]["extendedDetails"]["vaultId"]
    rg, vault = vault_scope(vault_id)
    fabric = _first(
        (
            f
            for f in client.replication_fabrics.list(rg, vault)
            if f.properties.custom_details.instance_type == "VMwareV2"
            and (f.properties.custom_details.vmware_site_id or "").lower().endswith(f"/{target.site.lower()}")
        ),
        f"vault {vault} has no VMwareV2 fabric for site {target.site}: is the appliance registered with this project?",
    )
    container = _first(
        client.replication_protection_containers.list_by_replication_fabrics(rg, vault, fabric.name),
        f"fabric {fabric.name} has no protection container",
    )
    policy = client.replication_policies.get(rg, vault, f"migrate{target.site}policy")
    mapping = _first(
        client.replication_protection_container_mappings.list_by_replication_protection_containers(
            rg, vault, fabric.name, container.name
        ),
        f"container {container.name} has no container mapping (replication is not initialised for the target region)",
    )
    vcenters = list(list_json(client, f"{_site_path(target)}/vCenters", OFFAZURE_API))
    details = mapping.properties.provider_specific_details
    return ReplicationInfrastructure(
        vault_id=vault_id,
        fabric=fabric.name,
        container=container.name,
        policy_id=policy.id,
        log_storage_account_id=details.storage_account_id,
        target_location=details.target_location,
        run_as_account_id=vcenters[0]["properties"]["runAsAccountId"],
        run_as_by_vcenter={v["id"].lower(): v["properties"]["runAsAccountId"] for v in vcenters},
    )
