"""Hardening of a migrated VM, one idempotent step per concern, each verified by reading back:
a network security group on its NIC, disk encryption (Azure Disk Encryption or encryption at host),
and Azure Backup protection."""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.hardening import HardeningPolicy
from wavelift.blocks.loading import load_for_run
from wavelift.tasks.backup_discovery import ProtectableVms
from wavelift.tasks.backup_policy import desired_policy, policy_differences, read_policy, write_policy
from wavelift.tasks.events import machine_event
from wavelift.tasks.host_encryption import ADE_PUBLISHER, host_encryption_problem
from wavelift.tasks.lifecycle import ROLLED_BACK_TAG, rolled_back
from wavelift.tasks.outcomes import Done, error_text
from wavelift.tasks.plan_models import MachinePlan

if TYPE_CHECKING:
    from wavelift.tasks.disaster_recovery import DrInfrastructure
    from wavelift.tasks.journey import Facts, Trip

MANAGEMENT_PORT = {"Windows": 3389, "Linux": 22}
MANAGEMENT_RULE = {"Windows": "allow-rdp", "Linux": "allow-ssh"}
ADE_EXTENSION = {"Windows": ("AzureDiskEncryption", "2.2"), "Linux": ("AzureDiskEncryptionForLinux", "1.1")}
ADE_NAME = "AzureDiskEncryption"  # the extension's name on the VM, for either OS's type
INTERNET = {"*", "0.0.0.0/0", "internet", "any"}


class StepResult(BaseModel):
    """One hardening step on one machine: what was checked, what was changed."""

    step: str
    ok: bool
    changed: bool
    detail: str
    resource: str = Field(
        default="", description="What the step created or found in Azure (NSG, key vault, backup policy, DR vault)."
    )

    @property
    def summary(self) -> str:
        """The hardening table's cell: did it hold, did this run create or change it, and what."""
        verdict = "FAILED" if not self.ok else "created or updated" if self.changed else "in place"
        return f"{verdict}: {self.resource}" if self.resource else verdict


class NsgSpec(BaseModel):
    """The network security group a machine's NIC gets: its own, or its tier's, shared with the tier's machines."""

    name: str
    os_types: list[str]
    tier: str | None = None


def nsg_specs(machines: list[MachinePlan], policy: HardeningPolicy) -> dict[str, NsgSpec]:
    """Each machine's NSG by source name. Per tier, the rules cover every OS of the tier across the whole
    plan, so hardening one wave never narrows an NSG that another wave's machines share."""
    tiers: dict[str, set[str]] = {}
    if policy.nsg_scope == "tier":
        for m in machines:
            if m.tags.get(policy.tier_tag):
                tiers.setdefault(m.tags[policy.tier_tag], set()).add(m.os_type)
    specs = {}
    for m in machines:
        tier = m.tags.get(policy.tier_tag) if policy.nsg_scope == "tier" else None
        specs[m.source_name] = (
            NsgSpec(name=f"nsg-{tier}", os_types=sorted(tiers[tier]), tier=tier)
            if tier
            else NsgSpec(name=f"{m.target_vm_name}-nsg", os_types=[m.os_type])
        )
    return specs


def nsg_rules(os_types: list[str], policy: HardeningPolicy) -> list[dict]:
    """The inbound rules of an NSG: the management port of each OS it serves (RDP, SSH) from the
    management networks, then the policy's extra ports; Internet sources only when the policy allows
    them. Azure's default rules deny the rest."""
    rules = [
        {
            "name": MANAGEMENT_RULE[os],
            "port": MANAGEMENT_PORT[os],
            "protocol": "Tcp",
            "sources": policy.management_cidrs,
        }
        for os in sorted(set(os_types))
    ]
    for extra in policy.extra_inbound:
        open_to_internet = any(s.lower() in INTERNET for s in extra.sources)
        if open_to_internet and not policy.allow_internet_inbound:
            raise ValueError(
                f"rule {extra.name} opens port {extra.port} to the Internet, which the hardening policy does not allow"
            )
        rules.append(extra.model_dump())
    return [
        {
            "name": name,
            "properties": {
                "protocol": r["protocol"],
                "sourcePortRange": "*",
                "destinationPortRange": str(r["port"]),
                **sources,
                "destinationAddressPrefix": "*",
                "access": "Allow",
                "priority": 200 + 10 * index,
                "direction": "Inbound",
            },
        }
        for index, (name, r, sources) in enumerate(
            (n, r, s) for r in rules for n, s in _source_fields(r["name"], r["sources"])
        )
    ]


def _source_fields(name: str, sources: list[str]) -> list[tuple[str, dict[str, object]]]:
    """A rule's sources as Azure takes them: addresses and ranges together in `sourceAddressPrefixes`, each service
    tag (VirtualNetwork, AzureLoadBalancer, ...) alone in `sourceAddressPrefix` of a rule of its own — Azure refuses
    a tag in `sourceAddressPrefixes` ("Security rules in Azure": a service tag is one prefix)."""
    tags = [s for s in sources if not _is_address(s)]
    addresses = [s for s in sources if _is_address(s)]
    fields: list[tuple[str, dict[str, object]]] = [(name, {"sourceAddressPrefixes": addresses})] if addresses else []
    return fields + [
        (
            name if not fields and i == 0 else f"{name}-{re.sub(r'[^a-z0-9]+', '-', tag.lower()).strip('-') or 'any'}",
            {"sourceAddressPrefix": tag},
        )
        for i, tag in enumerate(tags)
    ]


def _sources(rule: dict) -> list[str]:
    """A rule's sources, whichever of the two fields holds them."""
    return rule.get("sourceAddressPrefixes") or [rule["sourceAddressPrefix"]]


def _is_address(source: str) -> bool:
    try:
        ipaddress.ip_network(source, strict=False)
    except ValueError:
        return False
    return True


_WRITERS: dict[str, threading.Lock] = {}
_WRITERS_LOCK = threading.Lock()


def _writer(resource: str) -> threading.Lock:
    """The process's one lock for writing a shared resource (a tier's NSG): machines hardened in parallel take
    turns, and the one that comes second finds the NSG as it wants it. Runs in other processes meet ARM's
    `AnotherOperationInProgress`, which `tasks.transient` retries."""
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(resource.lower(), threading.Lock())


def ensure_nsg(
    target: AzureMigrationTarget, machine: MachinePlan, policy: HardeningPolicy, spec: NsgSpec, vm: Any
) -> StepResult:
    """Create or correct the machine's NSG (its own or its tier's) and associate it with the NIC of `vm` (an SDK
    VirtualMachine, as hardening read it)."""
    from azure.mgmt.network import models as nm

    network = target.network_client()
    rg = target.target_resource_group
    nic_id = vm.network_profile.network_interfaces[0].id
    wanted = {r["name"]: r["properties"] for r in nsg_rules(spec.os_types, policy)}
    name = spec.name
    changed = False
    with _writer(f"{rg}/{name}"):  # a tier's machines harden in parallel: one of them writes its NSG
        nsg = _read_nsg(network, rg, name)
        if nsg is None or _rule_summary(nsg) != {
            k: (v["destinationPortRange"], sorted(_sources(v)), v["access"]) for k, v in wanted.items()
        }:
            rules = [nm.SecurityRule(name=n, **{_snake(k): v for k, v in props.items()}) for n, props in wanted.items()]
            tags = {"wavelift-tier": spec.tier} if spec.tier else {"wavelift": machine.source_name}
            nsg = network.network_security_groups.begin_create_or_update(
                rg, name, nm.NetworkSecurityGroup(location=vm.location, security_rules=rules, tags=tags)
            ).result()
            changed = True
    nic = network.network_interfaces.get(nic_id.split("/")[4], nic_id.rsplit("/", 1)[1])
    if not _attached(nic, nsg.id):
        nic.network_security_group = nm.NetworkSecurityGroup(id=nsg.id)
        nic = network.network_interfaces.begin_create_or_update(nic_id.split("/")[4], nic.name, nic).result()
        changed = True
    ok = _attached(nic, nsg.id)  # as Azure answered the write, or read it
    return StepResult(
        step="nsg",
        ok=ok,
        changed=changed,
        resource=f"NSG {name}",
        detail=f"{name} on {nic.name}: "
        + ", ".join(f"{k} {v['destinationPortRange']} from {', '.join(_sources(v))}" for k, v in wanted.items()),
    )


def _read_nsg(network, rg: str, name: str):
    """The NSG, or None if it does not exist."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return network.network_security_groups.get(rg, name)
    except ResourceNotFoundError:
        return None


def _rule_summary(nsg) -> dict:
    """An NSG's custom rules as {name: (port, sources, access)}."""
    return {
        r.name: (r.destination_port_range, sorted(r.source_address_prefixes or [r.source_address_prefix]), r.access)
        for r in nsg.security_rules or []
    }


def _attached(nic, nsg_id: str) -> bool:
    """Whether the NIC, as Azure shows it, has the NSG."""
    return nic.network_security_group is not None and nic.network_security_group.id.lower() == nsg_id.lower()


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def ensure_encryption(
    target: AzureMigrationTarget, machine: MachinePlan, policy: HardeningPolicy, vm: Any
) -> tuple[StepResult, Any]:
    """The disk encryption the policy asks for, on `vm` as hardening read it (with its instance view); returns the
    step's result and the VM as Azure shows it afterwards (the DR step reads its disks' keys from it)."""
    if policy.encryption == "none":
        return StepResult(step="encryption", ok=True, changed=False, detail="the policy asks for no encryption"), vm
    if policy.encryption == "encryption_at_host":
        return ensure_encryption_at_host(target, machine, vm)
    return ensure_disk_encryption(target, machine, policy, vm)


def ensure_encryption_at_host(target: AzureMigrationTarget, machine: MachinePlan, vm: Any) -> tuple[StepResult, Any]:
    """Encryption at host: Azure switches it only on a deallocated VM, so deallocate, update, start.

    A run that died between the steps left the VM deallocated with the setting on; the next run sees
    the setting and starts the VM again, so hardening never leaves a migrated VM stopped.
    """
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.compute import models as cm

    compute = target.compute_client().virtual_machines
    rg, name = target.target_resource_group, machine.target_vm_name
    encrypted, running = _host_encryption_and_power(vm)
    changed = False
    if not encrypted and (problem := host_encryption_problem(target, vm)):
        return StepResult(  # checked while the VM runs: never deallocated for a change Azure would refuse
            step="encryption",
            ok=False,
            changed=False,
            resource=f"encryption at host of VM {name}",
            detail=f"encryption at host not possible: {problem}; the VM was left running",
        ), vm
    if not encrypted:
        compute.begin_deallocate(rg, name).result()
        try:
            compute.begin_update(
                rg, name, cm.VirtualMachineUpdate(security_profile=cm.SecurityProfile(encryption_at_host=True))
            ).result()
        except HttpResponseError as exc:  # never leave a production VM deallocated: start it, then report the refusal
            compute.begin_start(rg, name).result()
            return StepResult(
                step="encryption",
                ok=False,
                changed=True,
                resource=f"encryption at host of VM {name}",
                detail=f"encryption at host refused ({error_text(exc)}); the VM was started again",
            ), compute.get(rg, name, expand="instanceView")
        changed = True
    if changed or not running:
        compute.begin_start(rg, name).result()
        changed = True
    if changed:
        vm = compute.get(rg, name, expand="instanceView")  # read back
    encrypted, running = _host_encryption_and_power(vm)
    return StepResult(
        step="encryption",
        ok=encrypted and running,
        changed=changed,
        resource=f"encryption at host of VM {name}",
        detail=f"encryption at host {'on' if encrypted else 'NOT on'}, VM {'running' if running else 'NOT running'}",
    ), vm


def _host_encryption_and_power(vm) -> tuple[bool, bool]:
    """(encryption at host on, VM running), from a read of the VM with its instance view."""
    running = any(s.code == "PowerState/running" for s in vm.instance_view.statuses or [])
    return bool(vm.security_profile and vm.security_profile.encryption_at_host), running


def ensure_disk_encryption(
    target: AzureMigrationTarget, machine: MachinePlan, policy: HardeningPolicy, vm: Any
) -> tuple[StepResult, Any]:
    """Azure Disk Encryption through the VM extension Microsoft documents for the VM's OS; the VM is read back
    (with its disks' encryption state) when the extension was written. Whether it is there already, the VM's read
    says: it lists its extensions in `resources` (what `Get-AzVM` shows as Extensions)."""
    from azure.mgmt.compute import models as cm

    if not (policy.key_vault_url and policy.key_vault_resource_id):
        return StepResult(
            step="encryption",
            ok=False,
            changed=False,
            detail="the hardening policy names no Key Vault for Azure Disk Encryption",
        ), vm
    compute = target.compute_client()
    rg = target.target_resource_group
    ext_type, version = ADE_EXTENSION[machine.os_type]
    changed = False
    suffix = f"/extensions/{ADE_NAME}".lower()  # ARM's names are case-insensitive
    ade = next((e.properties for e in vm.resources or [] if (e.id or "").lower().endswith(suffix)), None)
    if not (ade and ade.provisioning_state == "Succeeded" and ade.type == ext_type):
        settings = {
            "EncryptionOperation": "EnableEncryption",
            "KeyVaultURL": policy.key_vault_url,
            "KeyVaultResourceId": policy.key_vault_resource_id,
            "VolumeType": "All",
        }
        body = cm.VirtualMachineExtension(
            location=target.target_region,
            properties=cm.VirtualMachineExtensionProperties(
                publisher=ADE_PUBLISHER,
                type=ext_type,
                type_handler_version=version,
                auto_upgrade_minor_version=True,
                settings=settings,
            ),
        )
        compute.virtual_machine_extensions.begin_create_or_update(rg, machine.target_vm_name, ADE_NAME, body).result()
        changed = True
        vm = compute.virtual_machines.get(rg, machine.target_vm_name, expand="instanceView")
    disks = vm.instance_view.disks or []
    encrypted = all(any(s.code == "EncryptionState/encrypted" for s in d.statuses or []) for d in disks)
    return StepResult(
        step="encryption",
        ok=encrypted,
        changed=changed,
        resource=f"{ext_type} keys in key vault {policy.key_vault_resource_id.rsplit('/', 1)[-1]}",
        detail=f"{ext_type} {version}: disks {'encrypted' if encrypted else 'NOT encrypted'}",
    ), vm


def backup_item_names(target: AzureMigrationTarget, vm_name: str) -> tuple[str, str]:
    """(protection container, protected item) names Azure Backup gives an Azure VM."""
    rg = target.target_resource_group
    return f"iaasvmcontainer;iaasvmcontainerv2;{rg};{vm_name}", f"vm;iaasvmcontainerv2;{rg};{vm_name}"


def backup_vault(target: AzureMigrationTarget, policy: HardeningPolicy) -> str:
    """The Recovery Services vault Azure Backup protects the migrated VMs from: the policy's, or the migration's."""
    return policy.backup_vault or target.vault


def _ensure_backup_vault(target: AzureMigrationTarget, name: str) -> None:
    """The policy's backup vault in the target region, created once (a vault protects only its region's VMs)."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.mgmt.recoveryservices import models as rm

    vaults = target.recovery_services_client().vaults
    with _writer(f"{target.resource_group}/vaults/{name}"):
        try:
            vaults.get(target.resource_group, name)
        except ResourceNotFoundError:
            vault = rm.Vault(location=target.target_region, sku=rm.Sku(name="RS0", tier="Standard"))
            vaults.begin_create_or_update(target.resource_group, name, vault).result()


def read_backup(target: AzureMigrationTarget, vm_name: str, vault: str) -> dict | None:
    """The VM's backup protected item properties (policyName, protectionState, lastBackupStatus, ...), or None."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        item = target.backup_client().protected_items.get(
            vault, target.resource_group, "Azure", *backup_item_names(target, vm_name)
        )
    except ResourceNotFoundError:
        return None
    return dict(item.properties)  # the backup SDK's models are mappings of Azure's wire names


class BackupPolicyInAzure(BaseModel):
    """The vault's daily backup policy as Azure showed it to a run, and how it differs from the hardening policy."""

    id: str
    drift: list[str]


def ensure_backup_policy(target: AzureMigrationTarget, policy: HardeningPolicy, zone: str) -> BackupPolicyInAzure:
    """The backup vault (the policy's own, created in the target region) and its daily policy, created if missing;
    read once per run by `harden_step`, since every VM of the run is protected by the same policy."""
    backup = target.backup_client()
    vault, rg = backup_vault(target, policy), target.resource_group
    if policy.backup_vault:
        _ensure_backup_vault(target, vault)
    desired = desired_policy(policy, zone)
    with _writer(f"{rg}/vaults/{vault}/backupPolicies/{policy.backup_policy}"):  # written once, by one machine
        existing = read_policy(backup, vault, rg, policy.backup_policy) or write_policy(
            backup, vault, rg, policy.backup_policy, desired
        )
    # never rewritten here: it would re-protect every VM under it
    return BackupPolicyInAzure(id=existing.id, drift=policy_differences(existing, desired))


def ensure_backup(
    target: AzureMigrationTarget,
    machine: MachinePlan,
    policy: HardeningPolicy,
    zone: str,
    run_policy: Callable[[], BackupPolicyInAzure] | None = None,
    protectable: ProtectableVms | None = None,
) -> StepResult:
    """The VM protected by the daily vault backup policy (as the run read it once, `run_policy`, else read now),
    and a first backup triggered; the vault's protectable VMs as the run listed them (`protectable`), else listed
    now."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.mgmt.recoveryservicesbackup import models as bm

    backup_policy = run_policy() if run_policy else ensure_backup_policy(target, policy, zone)
    backup = target.backup_client()
    vault, rg = backup_vault(target, policy), target.resource_group
    drift = backup_policy.drift
    container, item_name = backup_item_names(target, machine.target_vm_name)
    changed = False
    try:
        item = backup.protected_items.get(vault, rg, "Azure", container, item_name)
    except ResourceNotFoundError:
        vm_id = (
            f"{target.target_resource_group_id}/providers/Microsoft.Compute/virtualMachines/{machine.target_vm_name}"
        )
        # The vault protects only what it has discovered.
        discovered = (protectable or ProtectableVms(target, vault)).name(vm_id)
        if discovered is None:
            return StepResult(
                step="backup",
                ok=False,
                changed=False,
                resource=f"vault {vault}",
                detail=f"vault {vault} does not discover {machine.target_vm_name}: Azure Backup protects a VM only "
                "from a Recovery Services vault in the VM's region",
            )
        container, item_name = f"iaasvmcontainer;{discovered}", f"vm;{discovered}"
        item = backup.protected_items.begin_create_or_update(
            vault,
            rg,
            "Azure",
            container,
            item_name,
            bm.ProtectedItemResource(
                properties=bm.AzureIaaSComputeVMProtectedItem(source_resource_id=vm_id, policy_id=backup_policy.id)
            ),
        ).result()
        changed = True
    if not item.properties.get("lastBackupStatus"):
        backup.backups.trigger(
            vault, rg, "Azure", container, item_name, bm.BackupRequestResource(properties=bm.IaasVMBackupRequest())
        )
        changed = True
    protected = (item.properties.get("policyId") or "").lower() == backup_policy.id.lower()
    return StepResult(
        step="backup",
        ok=protected,
        changed=changed,
        resource=f"backup policy {policy.backup_policy} in vault {vault}",
        detail=f"policy {policy.backup_policy} daily at {policy.backup_hour:02d}:00 {zone}, {policy.retention_days} "
        "days"
        + (
            f"; Azure's policy differs ({', '.join(drift)}): run update-backup-policy to apply the change to every VM "
            "under it"
            if drift
            else ""
        ),
    )


class HardeningReport(BaseModel):
    """All hardening steps of one machine."""

    machine: str
    steps: list[StepResult]
    rolled_back: str | None = Field(
        default=None, description="The VM's rolled-back tag (when, who, why): found so, the VM was left alone."
    )

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


def harden_machine(
    target_block: str,
    policy_block: str,
    machine: MachinePlan,
    nsg: NsgSpec,
    zone: str,
    dr: DrInfrastructure | None,
    backup_policy: Callable[[], BackupPolicyInAzure] | None = None,
    protectable: ProtectableVms | None = None,
) -> HardeningReport:
    """Apply every hardening step to one migrated VM, in order; each step is skipped when already in place. `dr`,
    `backup_policy` and `protectable` are the run's, prepared once for all its machines (the policy when the backup
    step comes: a vault that cannot be read leaves the NSG and the encryption in place)."""
    from wavelift.tasks.disaster_recovery import ensure_dr, run_dr_drill

    target, policy = load_for_run(AzureMigrationTarget, target_block), load_for_run(HardeningPolicy, policy_block)
    # One read of the VM serves its steps (its NIC, location, power, disks), and the encryption step's read-back
    # serves DR (an ADE VM's disk keys): reads share ARM's budget with the wave's other machines.
    vm = target.compute_client().virtual_machines.get(
        target.target_resource_group, machine.target_vm_name, expand="instanceView"
    )
    if rolled_back(vm.tags):  # since the run last read it: its record says leave it alone (rollback.py)
        return HardeningReport(machine=machine.display_name, steps=[], rolled_back=vm.tags[ROLLED_BACK_TAG])
    nsg_step = ensure_nsg(target, machine, policy, nsg, vm)
    encryption, vm = ensure_encryption(target, machine, policy, vm)
    steps = [nsg_step, encryption, ensure_backup(target, machine, policy, zone, backup_policy, protectable)]
    if dr is not None:
        steps.append(ensure_dr(target, machine, dr, vm))
        if policy.dr_drill and policy.dr_drill_network_id and steps[-1].ok:
            steps.append(run_dr_drill(target, machine, dr, policy.dr_drill_network_id))
    report = HardeningReport(machine=machine.display_name, steps=steps)
    machine_event(machine, "hardened" if report.ok else "hardening.incomplete", steps={s.step: s.ok for s in steps})
    return report


def harden_step(trip: Trip, machine: MachinePlan, facts: Facts) -> Done:
    """The itinerary's hardening step, with the wave-wide inputs (the NSGs of every planned machine, the DR
    infrastructure) built once for the run by its first machine."""
    from wavelift.tasks.disaster_recovery import ensure_dr_infrastructure

    policy_block = trip.journey.hardening_policy
    assert policy_block is not None  # the step is due only with a policy
    policy = load_for_run(HardeningPolicy, policy_block)
    nsgs = trip.once("nsgs", lambda: nsg_specs([m for w in trip.plan.waves for m in w.machines], policy))
    dr = trip.once("dr", lambda: ensure_dr_infrastructure(trip.target(), policy)) if policy.disaster_recovery else None
    zone = trip.wave.window.timezone
    report = harden_machine(
        trip.target_block,
        policy_block,
        machine,
        nsgs[machine.source_name],
        zone,
        dr,
        lambda: trip.once("backup policy", lambda: ensure_backup_policy(trip.target(), policy, zone)),
        trip.once("protectable", lambda: ProtectableVms(trip.target(), backup_vault(trip.target(), policy))),
    )
    if report.rolled_back is not None:
        why = f"its cutover was rolled back ({report.rolled_back})"
        return Done(ok=True, detail=why, left_alone=why, observed=facts.state.model_copy(update={"rolled_back": True}))
    return Done(ok=report.ok, detail=" | ".join(s.detail for s in report.steps if not s.ok), report=report)
