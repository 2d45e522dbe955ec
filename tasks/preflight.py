"""What would make a wave fail later, found before it starts: the preflight's rules.

Each rule compares the wave's plan with what Azure said when the preflight read it (a `TargetReading`,
read once by `tasks.preflight_reads`), and gives findings: red stops `migrate-wave` unless an operator
overrides it with a written reason, amber is worth knowing, green says a rule was checked and holds.
The rules are pure, so they are tested without Azure; only machines that still need something count:
a machine already migrated needs no quota, address or name.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from enum import StrEnum

from pydantic import BaseModel, Field

from wavelift.tasks.lifecycle import CUTOVER_FAILED, MIGRATING, MachineState, Stage
from wavelift.tasks.plan_models import MachinePlan, Wave
from wavelift.tasks.vm_sizes import SizeInfo

APPLIANCE_REPLICATIONS = 300  # per vCenter with one appliance; 500 with a scale-out appliance (Learn, agentless)
WAVE = "wave"  # the scope of a finding about the whole wave


class Severity(StrEnum):
    RED = "red"
    AMBER = "amber"
    GREEN = "green"


class Finding(BaseModel):
    """One rule's verdict, for one machine or for the wave."""

    scope: str = Field(description="The machine's display name, or 'wave'.")
    check: str
    severity: Severity
    detail: str
    fix: str = ""
    quota: str | None = Field(default=None, description="For a vCPU quota finding: the quota's name (a VM family).")
    required: int | None = Field(default=None, description="For a red quota finding: the smallest limit that fits.")


class Usage(BaseModel):
    current: int
    limit: int

    @property
    def free(self) -> int:
        return max(0, self.limit - self.current)


class TargetReading(BaseModel):
    """Everything the preflight read from Azure, once: the rules take nothing else."""

    region: str
    sizes: dict[str, SizeInfo] = Field(description="By lower-cased size name.")
    vcpu_usage: dict[str, Usage] = Field(description="By quota name: a VM family, or 'cores' for the regional total.")
    subnets: dict[str, Usage | None] = Field(description="By '<vnet id>/subnets/<name>', lower-cased; None: absent.")
    states: dict[str, MachineState] = Field(description="Each plan machine's lifecycle state, by source name.")
    taken_names: set[str] = Field(description="Lower-cased names of the VMs in the target resource group.")
    run_as_by_vcenter: dict[str, str] = Field(description="Run-as account of each vCenter of the site.")
    mapping_region: str = Field(description="The target region of the vault's container mapping.")
    in_initial_replication: int = Field(description="The vault's items in initial seeding now, of every wave.")
    backup_vault_region: str | None = Field(
        default=None, description="Region of the vault Azure Backup will use; None: not read, or not found."
    )
    host_encryption_feature: str | None = Field(default=None, description="Microsoft.Compute/EncryptionAtHost state.")
    key_vault_region: str | None = Field(default=None, description="Region of the ADE Key Vault; None: not found.")
    key_vault_for_disk_encryption: bool = Field(default=False, description="The vault is enabled for disk encryption.")
    dr_group_region: str | None = Field(default=None, description="Region of the DR resource group; None: absent.")
    dr_cache_region: str | None = Field(default=None, description="Region of the DR cache account; None: absent.")
    secondary_region: str | None = None


class PolicyNeeds(BaseModel):
    """What the hardening policy will ask of Azure (nothing when the wave is not hardened)."""

    backup: bool = False
    encryption_at_host: bool = False
    disaster_recovery: bool = False
    key_vault_id: str | None = Field(default=None, description="The Key Vault of Azure Disk Encryption, if used.")
    backup_vault: str | None = Field(default=None, description="The vault Azure Backup will use.")
    backup_vault_made: bool = Field(default=False, description="Hardening creates the backup vault if it is missing.")
    dr_places: tuple[str, str] | None = Field(
        default=None, description="With DR: the recovery resource group and the cache storage account, by name."
    )


def needed_providers(needs: PolicyNeeds) -> list[str]:
    """The resource provider namespaces the wave will call: a namespace the subscription has not registered
    refuses every request (`MissingSubscriptionRegistration`, Microsoft Learn, "Resolve errors for resource
    provider registration"), so a wave would fail at the first step that needs it, maybe after cutover."""
    needed = {
        "Microsoft.Migrate",
        "Microsoft.OffAzure",
        "Microsoft.RecoveryServices",
        "Microsoft.Compute",
        "Microsoft.Network",
    }
    if needs.key_vault_id:
        needed.add("Microsoft.KeyVault")
    if needs.disaster_recovery:
        needed.add("Microsoft.Storage")  # the cache storage account of A2A replication
    return sorted(needed)


def unregistered(providers: dict[str, str], needs: PolicyNeeds) -> list[str]:
    """The namespaces the wave calls that Azure did not report `Registered` (`providers`: each one's state)."""
    return [namespace for namespace in needed_providers(needs) if providers.get(namespace) != "Registered"]


class PreflightReport(BaseModel):
    """The preflight's findings for one wave."""

    plan: str
    wave: str
    findings: list[Finding]

    @property
    def red(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == Severity.RED]

    def summary(self) -> str:
        counts = Counter(f.severity.value for f in self.findings)
        return ", ".join(f"{counts[s.value]} {s.value}" for s in Severity)


def subnet_key(vnet_id: str, subnet: str) -> str:
    return f"{vnet_id}/subnets/{subnet}".lower()


def _for_wave(check: str, severity: Severity, detail: str, fix: str = "") -> Finding:
    """A finding about the whole wave."""
    return Finding(scope=WAVE, check=check, severity=severity, detail=detail, fix=fix)


def _about(machine: MachinePlan, check: str, severity: Severity, detail: str, fix: str) -> Finding:
    """A finding about one machine."""
    return Finding(scope=machine.display_name, check=check, severity=severity, detail=detail, fix=fix)


def _pending(wave: Wave, reading: TargetReading) -> list[tuple[MachinePlan, Stage]]:
    """The wave's machines that will still get an Azure VM, with their stage (a rolled-back machine gets none
    until an operator removes its stopped VM)."""
    return [
        (m, stage)
        for m in wave.machines
        if (stage := reading.states[m.source_name].stage) not in (Stage.MIGRATED, Stage.COMPLETED, Stage.ROLLED_BACK)
    ]


def check_quota(wave: Wave, reading: TargetReading) -> list[Finding]:
    """Each VM family's vCPUs (and the regional total) against the free quota: a machine holds one VM at a
    time (its test VM is removed before it migrates), so the wave needs the sum of its pending machines'."""
    needed: Counter[str] = Counter()
    for machine, _ in _pending(wave, reading):
        size = reading.sizes.get(machine.target_vm_size.lower())
        if size is not None:
            needed[size.family] += size.vcpus
            needed["cores"] += size.vcpus
    findings = []
    for name, vcpus in sorted(needed.items()):
        usage = reading.vcpu_usage.get(name)
        if usage is None:
            findings.append(_quota(name, Severity.AMBER, f"Azure reports no quota {name} in {reading.region}"))
        elif vcpus > usage.free:
            required = usage.current + vcpus
            detail = f"the wave needs {vcpus} vCPUs; {usage.free} of {usage.limit} are free in {reading.region}"
            fix = (
                f"raise the limit to at least {required} (az quota update --resource-name {name} "
                f"--scope subscriptions/<id>/providers/Microsoft.Compute/locations/{reading.region})"
            )
            findings.append(_quota(name, Severity.RED, detail, fix, required))
        else:
            findings.append(_quota(name, Severity.GREEN, f"needs {vcpus}; {usage.free} of {usage.limit} free"))
    return findings


def _quota(name: str, severity: Severity, detail: str, fix: str = "", required: int | None = None) -> Finding:
    return Finding(
        scope=WAVE,
        check="vCPU quota",
        severity=severity,
        detail=f"{name}: {detail}",
        fix=fix,
        quota=name,
        required=required,
    )


def check_sizes(wave: Wave, reading: TargetReading, needs: PolicyNeeds) -> list[Finding]:
    """Every planned size is offered in the region to this subscription (and takes encryption at host if the
    policy turns it on)."""
    findings = []
    for machine, _ in _pending(wave, reading):
        size = reading.sizes.get(machine.target_vm_size.lower())
        if size is None or size.restricted:
            why = "is not offered" if size is None else "is restricted for this subscription"
            findings.append(
                _about(
                    machine,
                    "VM size",
                    Severity.RED,
                    f"{machine.target_vm_size} {why} in {reading.region}",
                    "choose another size in the plan",
                )
            )
        elif needs.encryption_at_host and not size.encryption_at_host:
            findings.append(
                _about(
                    machine,
                    "VM size",
                    Severity.RED,
                    f"{machine.target_vm_size} does not support encryption at host",
                    "choose a size that does, or another encryption in the hardening policy",
                )
            )
    return findings


def check_subnets(
    wave: Wave, reading: TargetReading, target_subnet: tuple[str, str], test_subnet: tuple[str, str]
) -> list[Finding]:
    """Free addresses in each target and test subnet against the machines that will take one there: every
    pending machine a target address, every machine still to be tested a test address."""
    needed: dict[str, int] = defaultdict(int)
    labels: dict[str, str] = {}
    for machine, stage in _pending(wave, reading):
        uses = [("target", target_subnet[0], machine.target_subnet or target_subnet[1])]
        if stage in (Stage.PLANNED, Stage.REPLICATING, Stage.SEEDED) and not machine.test_waived:
            uses.append(("test", test_subnet[0], machine.test_subnet or test_subnet[1]))
        for role, vnet, subnet in uses:
            key = subnet_key(vnet, subnet)
            needed[key] += 1
            labels[key] = f"{role} subnet {vnet.rsplit('/', 1)[-1]}/{subnet}"
    findings = []
    for key, count in sorted(needed.items()):
        usage = reading.subnets.get(key)
        if usage is None:
            findings.append(
                _for_wave(
                    labels[key], Severity.RED, "the subnet does not exist", "create it, or name another in the plan"
                )
            )
        elif count > usage.free:
            detail = f"{count} machines need an address; {usage.free} of {usage.limit} are free"
            fix = "enlarge the subnet or spread the machines over others"
            findings.append(_for_wave(labels[key], Severity.RED, detail, fix))
        else:
            findings.append(
                _for_wave(labels[key], Severity.GREEN, f"{count} needed; {usage.free} of {usage.limit} free")
            )
    return findings


def _migration_began(state: MachineState) -> bool:
    """Azure is migrating the machine, or its migration failed: a VM of its target name is that migration's (a run
    killed during the cutover leaves it so), and the next run finishes or rolls back that cutover."""
    return state.item is not None and state.item.migration_state in MIGRATING | CUTOVER_FAILED


def check_names(wave: Wave, reading: TargetReading) -> list[Finding]:
    """A target VM name already taken in the target resource group: the migration would fail at its very
    end, after the source was shut down. A VM of the name with no replication left reads as this machine's
    completed migration (nothing else records one); the operator is told, in case it is another server. A VM of
    the name while the machine's own migration runs (or failed) is that migration's."""
    findings = [
        _about(
            machine,
            "target VM name",
            Severity.RED,
            f"a VM named {machine.target_vm_name} already exists in the target resource group",
            "rename the target VM in the plan, or remove the old VM",
        )
        for machine, _ in _pending(wave, reading)
        if machine.target_vm_name.lower() in reading.taken_names
        and not _migration_began(reading.states[machine.source_name])
    ]
    findings += [
        _about(
            m,
            "target VM name",
            Severity.AMBER,
            f"VM {m.target_vm_name} exists and nothing replicates: taken as this machine's completed "
            "migration, which nothing will repeat",
            "if that VM is another server's, rename the target VM in the plan",
        )
        for m in wave.machines
        if reading.states[m.source_name].stage == Stage.COMPLETED
    ]
    return findings


def check_run_as(wave: Wave, reading: TargetReading) -> list[Finding]:
    """Each machine's own vCenter is in the site and has a run-as account (Az.Migrate follows vCenterId)."""
    findings = []
    for machine, stage in _pending(wave, reading):
        if stage != Stage.PLANNED:
            continue  # replication is enabled: its run-as account was chosen then
        vcenter = (machine.vcenter_id or "").lower()
        if not vcenter:
            findings.append(
                _about(
                    machine,
                    "run-as account",
                    Severity.AMBER,
                    "the plan names no vCenter: the site's first vCenter's account is used",
                    "import the plan again from a fresh discovery",
                )
            )
        elif not reading.run_as_by_vcenter.get(vcenter):
            findings.append(
                _about(
                    machine,
                    "run-as account",
                    Severity.RED,
                    f"vCenter {vcenter.rsplit('/', 1)[-1]} is not in the site or has no run-as account",
                    "add the vCenter's credentials on the appliance, then discover again",
                )
            )
    return findings


def check_regions(reading: TargetReading, target_region: str, needs: PolicyNeeds) -> list[Finding]:
    """The vault replicates to the target region; Backup's vault is in it; DR has a secondary region apart."""
    same = target_region.lower()
    rules = [
        (
            "replication region",
            reading.mapping_region.lower() == same,
            f"the vault's container mapping replicates to {reading.mapping_region}, the target block says "
            f"{target_region}",
            "set the target block's region to the project's, or initialise replication for it",
        ),
    ]
    if needs.backup:
        made = reading.backup_vault_region is None and needs.backup_vault_made  # hardening creates it there
        rules.append(
            (
                "backup vault region",
                made or (reading.backup_vault_region or "").lower() == same,
                f"Azure Backup needs a vault in {target_region}; vault {needs.backup_vault} is "
                + (f"in {reading.backup_vault_region}" if reading.backup_vault_region else "not found"),
                "name a backup_vault in the hardening policy: hardening creates it in the target region",
            )
        )
    if needs.disaster_recovery:
        secondary = (reading.secondary_region or "").lower()
        rules.append(
            (
                "secondary region",
                bool(secondary) and secondary != same,
                f"disaster recovery needs a secondary region other than {target_region}; the target block "
                f"has {reading.secondary_region or 'none'}",
                "set secondary_region on the target block",
            )
        )
    if needs.encryption_at_host:
        rules.append(
            (
                "EncryptionAtHost feature",
                reading.host_encryption_feature == "Registered",
                f"Microsoft.Compute/EncryptionAtHost is {reading.host_encryption_feature}",
                "az feature register --namespace Microsoft.Compute --name EncryptionAtHost",
            )
        )
    if needs.disaster_recovery and needs.dr_places:
        group, cache = needs.dr_places
        secondary = (reading.secondary_region or "").lower()
        rules += [
            (
                "DR resource group",
                reading.dr_group_region is None or reading.dr_group_region.lower() == secondary,
                f"resource group {group} is in {reading.dr_group_region}; DR replicas need one in {secondary}",
                "name another dr_resource_group in the hardening policy",
            ),
            (
                "DR cache storage account",
                reading.dr_cache_region is None or reading.dr_cache_region.lower() == same,
                f"storage account {cache} is in {reading.dr_cache_region}; A2A caches in the VMs' region "
                f"{target_region}",
                "name another dr_cache_storage_account in the hardening policy",
            ),
        ]
    if needs.key_vault_id:
        vault = needs.key_vault_id.rsplit("/", 1)[-1]
        where = f"in {reading.key_vault_region}" if reading.key_vault_region else "not found"
        rules += [
            (
                "Key Vault region",
                (reading.key_vault_region or "").lower() == same,
                f"Key Vault {vault} is {where}; Azure Disk Encryption needs it in {target_region}",
                "use a Key Vault in the target region",
            ),
            (
                "Key Vault for disk encryption",
                reading.key_vault_for_disk_encryption,
                f"Key Vault {vault} is not enabled for disk encryption",
                f"az keyvault update --name {vault} --enabled-for-disk-encryption true",
            ),
        ]
    return [
        _for_wave(check, Severity.GREEN, "as required") if ok else _for_wave(check, Severity.RED, detail, fix)
        for check, ok, detail, fix in rules
    ]


def check_providers(providers: dict[str, str], needs: PolicyNeeds) -> list[Finding]:
    """Every namespace the wave calls is registered in the subscription (`Registering` is not yet);
    `providers` is each namespace's registration state as Azure reported it."""
    missing = unregistered(providers, needs)
    return [
        _for_wave(
            f"provider {namespace}",
            Severity.RED,
            f"{namespace} is {providers.get(namespace, 'not read')} in the subscription: Azure refuses its requests "
            "(MissingSubscriptionRegistration)",
            f"az provider register --namespace {namespace}, then wait until it reads Registered",
        )
        if namespace in missing
        else _for_wave(f"provider {namespace}", Severity.GREEN, "registered")
        for namespace in needed_providers(needs)
    ]


def check_appliance(wave: Wave, reading: TargetReading) -> list[Finding]:
    """Replications already in initial seeding (of any wave or tool) against what an appliance takes: beyond
    it Azure queues the wave's machines; wavelift itself starts at most 100 at once."""
    starting = sum(stage == Stage.PLANNED for _, stage in _pending(wave, reading))
    busy = reading.in_initial_replication
    return [
        _for_wave(
            "appliance replications",
            Severity.AMBER if busy >= APPLIANCE_REPLICATIONS else Severity.GREEN,
            f"{busy} replications in initial seeding now, {starting} of this wave to start (100 at a time); an "
            f"appliance takes {APPLIANCE_REPLICATIONS} per vCenter (500 with a scale-out appliance)",
        )
    ]


def preflight(
    plan: str,
    wave: Wave,
    providers: dict[str, str],
    reading: TargetReading | None,
    needs: PolicyNeeds,
    target_subnet: tuple[str, str],
    test_subnet: tuple[str, str],
) -> PreflightReport:
    """Every rule's findings for the wave; `target_subnet` and `test_subnet` are (vnet id, default subnet).

    The providers are checked first: the other rules' reads go to those namespaces, so without a reading
    (`reading` None, because one is not registered) they are reported as not run."""
    registered = check_providers(providers, needs)
    if reading is None:
        skipped = _for_wave(
            "other checks",
            Severity.AMBER,
            "not run: they read from the providers that are not registered",
            "register them, then run the preflight again",
        )
        return PreflightReport(plan=plan, wave=wave.name, findings=[*registered, skipped])
    return PreflightReport(
        plan=plan,
        wave=wave.name,
        findings=[
            *registered,
            *check_regions(reading, reading.region, needs),
            *check_quota(wave, reading),
            *check_subnets(wave, reading, target_subnet, test_subnet),
            *check_appliance(wave, reading),
            *check_sizes(wave, reading, needs),
            *check_names(wave, reading),
            *check_run_as(wave, reading),
        ],
    )
