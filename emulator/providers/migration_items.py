"""Site Recovery migration items (agentless VMware, `VMwareCbt`): enable replication, initial seeding,
delta sync, test migration and its clean-up, migration with an optional source shutdown, resync,
pause/resume and removal, with Azure's states, allowed operations, jobs and recovery points."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from wavelift.emulator.clock import iso
from wavelift.emulator.errors import ArmError, bad_request, conflict
from wavelift.emulator.estate import SourceMachine
from wavelift.emulator.guest import listening_ports
from wavelift.emulator.providers.asr import API, NS, Jobs, ReplicatedItems, register_item_routes, vault_of
from wavelift.emulator.providers.common import fail_unless, list_items, migration_vm_name_problem
from wavelift.emulator.providers.compute import Compute
from wavelift.emulator.providers.discovery import Discovery
from wavelift.emulator.providers.network import Network
from wavelift.emulator.routing import ACTION, COLLECTION, ITEM, Call, Reply, Router
from wavelift.emulator.world import World

ITEM_TYPE = f"{NS}/vaults/replicationFabrics/replicationProtectionContainers/replicationMigrationItems"
DISK_TYPES = {
    "Standard_LRS",
    "Premium_LRS",
    "StandardSSD_LRS",
    "PremiumV2_LRS",
    "UltraSSD_LRS",
    "StandardSSD_ZRS",
    "Premium_ZRS",
}
LICENSES = {
    "licenseType": {"NoLicenseType", "WindowsServer"},
    "sqlServerLicenseType": {"NoLicenseType", "PAYG", "AHUB"},
}
SEEDING_STATES = {"EnableMigrationInProgress", "InitialSeedingInProgress"}
STATE_TEXT = {
    "EnableMigrationInProgress": "Enabling replication",
    "EnableMigrationFailed": "Enable replication failed",
    "InitialSeedingInProgress": "Initial replication",
    "Replicating": "Ready to migrate",
    "MigrationInProgress": "Migration in progress",
    "MigrationSucceeded": "Migration succeeded",
    "MigrationCompletedWithInformation": "Migration completed with information",
    "MigrationPartiallySucceeded": "Migration partially succeeded",
    "MigrationFailed": "Migration failed",
    "DisableMigrationInProgress": "Stopping replication",
    "SuspendingProtection": "Pausing replication",
    "ProtectionSuspended": "Replication paused",
    "ResumeInProgress": "Resuming replication",
}
OUTCOMES = ("Succeeded", "CompletedWithInformation", "PartiallySucceeded")  # a fault rule picks the latter two
MIGRATED = tuple(f"Migration{o}" for o in OUTCOMES)  # the VM exists in each
TESTED = (*(f"TestMigration{o}" for o in OUTCOMES), "TestMigrationFailed")  # a test VM may exist: clean it up
TEST_TEXT = {
    "None": "None",
    "TestMigrationInProgress": "Test migration in progress",
    "TestMigrationSucceeded": "Test migration cleanup pending",
    "TestMigrationCompletedWithInformation": "Test migration completed with information",
    "TestMigrationPartiallySucceeded": "Test migration partially succeeded",
    "TestMigrationFailed": "Test migration failed",
    "TestMigrationCleanupInProgress": "Test migration cleanup in progress",
}


@dataclass
class MigrationItem:
    """One machine's replication, as Site Recovery tracks it."""

    id: str
    name: str
    machine: SourceMachine
    policy: dict
    details: dict  # VMwareCbt enable input, updated by PATCH
    state: str = "EnableMigrationInProgress"
    test_state: str = "None"
    job: dict | None = None
    seeded_at: float | None = None
    resyncing: bool = False
    test_vm_id: str | None = None
    vm_id: str | None = None
    last_test: tuple[str, str] | None = None  # (time, status)
    last_migration: tuple[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def allowed(self) -> list[str]:
        """Azure's allowedOperations for the current states."""
        if self.job is not None and self.job["properties"]["state"] == "InProgress":
            return []
        if self.state == "Replicating" and not self.resyncing:
            if self.test_state == "None":
                return ["TestMigrate", "Migrate", "DisableMigration", "StartResync", "PauseReplication"]
            if self.test_state in TESTED:
                return ["TestMigrateCleanup", "Migrate", "DisableMigration"]
            return []
        return {
            "InitialSeedingInProgress": ["DisableMigration"],
            "EnableMigrationFailed": ["DisableMigration"],
            **dict.fromkeys(MIGRATED, ["DisableMigration"]),
            "MigrationFailed": ["Migrate", "DisableMigration", "StartResync"],
            "ProtectionSuspended": ["ResumeReplication", "DisableMigration"],
            "Replicating": ["DisableMigration"],
        }.get(self.state, [])


class MigrationItems(ReplicatedItems[MigrationItem]):
    """The VMwareCbt provider's behaviour over the world's machines, networks and VMs."""

    def __init__(self, world: World, jobs: Jobs, compute: Compute, network: Network, discovery: Discovery) -> None:
        super().__init__(world, jobs, compute, network)
        self.discovery = discovery
        world.seeded_listeners.append(self._seeded)

    # -- rendering ------------------------------------------------------------------------------
    def render(self, item: MigrationItem) -> dict:
        now = self.world.clock.now()
        d = item.details
        cap = self.world.config.capacity
        disks_by_id = {x["diskId"]: x for x in d.get("disksToInclude", [])}
        rps = self._recovery_points(item, now)
        seeding_pct = self.world.seeding.progress(item.id) if item.state == "InitialSeedingInProgress" else None
        if item.seeded_at is not None and not item.extra.get("seeding_shown"):
            item.extra["seeding_shown"] = True
            self.world.seeding_shown(item.machine, now - item.seeded_at)
        specific: dict[str, Any] = {
            "instanceType": "VMwareCbt",
            "vmwareMachineId": d["vmwareMachineId"],
            "osType": item.machine.os_type,
            "osName": item.machine.os_name,
            "firmwareType": item.machine.firmware,
            "targetGeneration": "2" if item.machine.firmware == "UEFI" else "1",
            "licenseType": d.get("licenseType", "NoLicenseType"),
            "sqlServerLicenseType": d.get("sqlServerLicenseType", "NoLicenseType"),
            "dataMoverRunAsAccountId": d["dataMoverRunAsAccountId"],
            "snapshotRunAsAccountId": d["snapshotRunAsAccountId"],
            "targetVmName": d.get("targetVmName", item.machine.display_name),
            "targetVmSize": d.get("targetVmSize"),
            "targetLocation": self.world.config.region,
            "targetResourceGroupId": d["targetResourceGroupId"],
            "targetNetworkId": d["targetNetworkId"],
            "testNetworkId": d.get("testNetworkId"),
            "targetAvailabilityZone": d.get("targetAvailabilityZone"),
            "targetVmTags": d.get("targetVmTags", {}),
            "targetDiskTags": d.get("targetDiskTags", {}),
            "targetNicTags": d.get("targetNicTags", {}),
            "seedDiskTags": d.get("seedDiskTags", {}),
            "protectedDisks": [
                {
                    "diskId": disk.uuid,
                    "diskName": disk.name,
                    "diskPath": f"[datastore1] {item.machine.display_name}/{disk.name}.vmdk",
                    "isOSDisk": disks_by_id[disk.uuid].get("isOSDisk", "false"),
                    "capacityInBytes": disk.size_gb * 1024**3,
                    "diskType": disks_by_id[disk.uuid].get("diskType", "Standard_LRS"),
                    "logStorageAccountId": disks_by_id[disk.uuid].get("logStorageAccountId"),
                    "logStorageAccountSasSecretName": disks_by_id[disk.uuid].get("logStorageAccountSasSecretName"),
                    "targetDiskName": (
                        f"{d.get('targetVmName', item.machine.display_name)}-{disk.name.replace(':', '-')}"
                    ),
                    "seedManagedDiskId": (
                        f"{d['targetResourceGroupId']}/providers/Microsoft.Compute/disks/seed-{disk.uuid}"
                    )
                    if item.state != "EnableMigrationInProgress"
                    else None,
                }
                for disk in item.machine.disks
                if disk.uuid in disks_by_id
            ],
            "vmNics": [self._nic_details(item)],
            "initialSeedingProgressPercentage": 100 if item.seeded_at is not None else (seeding_pct or 0),
            "deltaSyncProgressPercentage": int(
                100 * ((now - rps[-1][1]) % cap.delta_cycle_seconds) / cap.delta_cycle_seconds
            )
            if rps
            else 0,
            "migrationProgressPercentage": 100
            if item.state in MIGRATED
            else (50 if item.state == "MigrationInProgress" else 0),
            "resyncProgressPercentage": self.world.seeding.progress(item.id) if item.resyncing else 0,
            "resyncRequired": "false",
            "resyncState": "StartedResynchronization" if item.resyncing else "None",
            "performAutoResync": d.get("performAutoResync", "true"),
            "initialSeedingRetryCount": 0,
            "deltaSyncRetryCount": 0,
            "supportedOSVersions": [],
        }
        if rps:
            specific["lastRecoveryPointId"] = rps[-1][0]
            specific["lastRecoveryPointReceived"] = iso(rps[-1][1])
        props: dict[str, Any] = {
            "machineName": item.machine.display_name,
            "policyId": item.policy["id"],
            "policyFriendlyName": item.policy["name"],
            "migrationState": item.state,
            "migrationStateDescription": "Resynchronizing"
            if item.resyncing
            else "Queued"  # its vCenter's appliance replicates as many machines as it can already
            if self.world.seeding.queued(item.id) and item.state == "InitialSeedingInProgress"
            else STATE_TEXT.get(item.state, item.state),
            "testMigrateState": item.test_state,
            "testMigrateStateDescription": TEST_TEXT.get(item.test_state, item.test_state),
            "health": "Normal",
            "healthErrors": [],
            "allowedOperations": item.allowed(),
            "currentJob": Jobs.current(item.job),
            "criticalJobHistory": [],
            "eventCorrelationId": item.extra.setdefault("correlation", str(uuid.uuid4())),
            "providerSpecificDetails": specific,
        }
        if item.last_test:
            props["lastTestMigrationTime"], props["lastTestMigrationStatus"] = item.last_test
        if item.last_migration:
            props["lastMigrationTime"], props["lastMigrationStatus"] = item.last_migration
        return {"id": item.id, "name": item.name, "type": ITEM_TYPE, "properties": props}

    def _nic_details(self, item: MigrationItem) -> dict:
        d = item.details
        nic = d.get("nic", {})
        details = {
            "nicId": "4000",
            "isPrimaryNic": "true",
            "sourceIPAddress": item.machine.ip,
            "sourceIPAddressType": "Static",
            "sourceNetworkId": "VM Network",
            "targetSubnetName": nic.get("targetSubnetName", d.get("targetSubnetName")),
            "testNetworkId": d.get("testNetworkId"),
            "testSubnetName": nic.get("testSubnetName", d.get("testSubnetName")),
            "targetIPAddressType": "Static" if nic.get("targetStaticIPAddress") else "Dynamic",
            "targetIPAddress": nic.get("targetStaticIPAddress"),
            "isSelectedForMigration": "true",
            "targetNicName": nic.get("targetNicName"),
        }
        return {k: v for k, v in details.items() if v is not None}

    def _recovery_points(self, item: MigrationItem, now: float) -> list[tuple[str, float]]:
        """Crash-consistent points: one at the end of seeding, then one per delta-sync cycle (last 24)."""
        if item.seeded_at is None:
            return []
        cycle = self.world.config.capacity.delta_cycle_seconds
        if item.state in ("MigrationInProgress", "ProtectionSuspended", *MIGRATED) and "frozen_at" in item.extra:
            now = item.extra["frozen_at"]
        count = int((now - item.seeded_at) // cycle)
        return [
            (
                f"{item.id}/migrationRecoveryPoints/{uuid.uuid5(uuid.NAMESPACE_URL, f'{item.id}/{k}')}",
                item.seeded_at + k * cycle,
            )
            for k in range(max(0, count - 23), count + 1)
        ]

    # -- enable replication ---------------------------------------------------------------------
    def create(self, call: Call) -> Reply:
        container_id = call.path.item_id.rsplit("/", 2)[0]
        self.world.store.require(container_id)
        vault_id = vault_of(call.path.item_id)
        if call.path.item_id.lower() in self.items:
            raise conflict(
                "ReplicationAlreadyEnabled", f"Replication is already enabled for migration item {call.path.names[-1]}."
            )
        props = call.properties()
        policy = self.world.store.require(props.get("policyId") or "(missing policyId)")
        details = copy.deepcopy(props.get("providerSpecificDetails") or {})
        machine = self._validate_enable(details, self._log_storage(call.path.item_id.rsplit("/", 2)[0]))
        for other in self.items.values():
            if other.machine is machine:
                raise conflict(
                    "ReplicationAlreadyEnabled",
                    f"Machine {machine.display_name} is already replicating as migration item {other.name}.",
                )
        item = MigrationItem(call.path.item_id, call.path.names[-1], machine, policy, details)
        self.items[item.id.lower()] = item
        item.job = self.jobs.start(vault_id, "EnableMigration", "Enable migration", item.id, machine.display_name)
        self.world.initial_replication_started()
        self.world.record(machine.name, "enable_replication", item=item.name, target_vm=details.get("targetVmName"))

        def complete(t: float) -> None:
            self.jobs.finish(item.job, t)
            item.state = "InitialSeedingInProgress"
            sizes = [
                disk.size_gb for disk in machine.disks if disk.uuid in {x["diskId"] for x in details["disksToInclude"]}
            ]
            self.world.seeding.add(item.id, sizes, t, self.discovery.vcenter_of(machine).id)

        def fail(t: float, error: dict) -> None:
            self.jobs.finish(item.job, t, error)
            item.state = "EnableMigrationFailed"
            self.world.initial_replication_ended()
            self.world.record(machine.name, "enable_replication_failed", t, code=error["code"])

        return self.lro(call, item, self.world.config.capacity.enable_seconds, complete, fail)

    def _log_storage(self, container_id: str) -> str:
        """The replication log storage account that the container's mapping (replication initialisation) made."""
        mappings = self.world.store.children(container_id, "replicationProtectionContainerMappings")
        fail_unless(
            bool(mappings),
            400,
            "InvalidProviderSpecificInput",
            "Replication is not initialised for this container (no container mapping).",
        )
        return mappings[0]["properties"]["providerSpecificDetails"]["storageAccountId"]

    def _validate_enable(self, d: dict, log_storage: str) -> SourceMachine:
        """Refuse an enable request as Site Recovery would (and Az.Migrate checks before it sends one), naming
        the field and the reason."""
        fail_unless(
            d.get("instanceType") == "VMwareCbt",
            400,
            "InvalidProviderSpecificInput",
            f"providerSpecificDetails.instanceType must be 'VMwareCbt', not {d.get('instanceType')!r}.",
        )
        required = [
            "vmwareMachineId",
            "disksToInclude",
            "dataMoverRunAsAccountId",
            "snapshotRunAsAccountId",
            "targetResourceGroupId",
            "targetNetworkId",
        ]
        missing = [f for f in required if not d.get(f)]
        fail_unless(
            not missing,
            400,
            "InvalidProviderSpecificInput",
            f"providerSpecificDetails is missing required field(s): {', '.join(missing)}.",
        )
        machine_id = d["vmwareMachineId"]
        machine = self.world.machine(machine_id.rstrip("/").rsplit("/", 1)[-1])
        fail_unless(
            machine is not None and "/Microsoft.OffAzure/VMwareSites/".lower() in machine_id.lower(),
            400,
            "DiscoveredMachineNotFound",
            f"The discovered machine '{machine_id}' was not found.",
        )
        assert machine is not None
        own = self.discovery.vcenter_of(machine)
        for ref in ("dataMoverRunAsAccountId", "snapshotRunAsAccountId"):
            self.world.store.require(d[ref])
            fail_unless(  # Az.Migrate follows the machine's vCenterId to its runAsAccountId; code not documented
                d[ref].lower() == own.run_as_id.lower(),
                400,
                "InvalidProviderSpecificInput",
                f"providerSpecificDetails.{ref} {d[ref]} is not the run-as account of vCenter {own.fqdn}, which "
                f"discovered {machine.display_name}: use {own.run_as_id}.",
            )
        vnet = self.world.store.get(d["targetNetworkId"])
        fail_unless(
            vnet is not None,
            400,
            "TargetNetworkNotFound",
            f"The target network '{d['targetNetworkId']}' was not found.",
        )
        if d.get("targetSubnetName"):
            fail_unless(
                self.world.store.get(f"{d['targetNetworkId']}/subnets/{d['targetSubnetName']}") is not None,
                400,
                "TargetSubnetNotFound",
                f"Subnet '{d['targetSubnetName']}' was not found in {d['targetNetworkId']}.",
            )
        if d.get("testNetworkId"):
            fail_unless(
                self.world.store.get(d["testNetworkId"]) is not None,
                400,
                "TestNetworkNotFound",
                f"The test network '{d['testNetworkId']}' was not found.",
            )
        if d.get("targetVmName"):
            reason = migration_vm_name_problem(d["targetVmName"])
            fail_unless(reason is None, 400, "InvalidTargetVmName", f"targetVmName '{d['targetVmName']}' {reason}.")
        if d.get("targetVmSize"):
            fail_unless(
                str(d["targetVmSize"]).startswith(("Standard_", "Basic_")),
                400,
                "InvalidTargetVmSize",
                f"targetVmSize '{d['targetVmSize']}' is not an Azure VM size.",
            )
        for name, allowed in LICENSES.items():
            fail_unless(
                d.get(name) in (None, *allowed),
                400,
                "InvalidProviderSpecificInput",
                f"{name} '{d.get(name)}' must be one of {sorted(allowed)}.",
            )
        known = {disk.uuid for disk in machine.disks}
        os_disks, taken = 0, set()
        for index, disk in enumerate(d["disksToInclude"]):
            where = f"disksToInclude[{index}]"
            for f in ("diskId", "isOSDisk", "logStorageAccountId", "logStorageAccountSasSecretName"):
                fail_unless(bool(disk.get(f)), 400, "InvalidProviderSpecificInput", f"{where}.{f} is required.")
            fail_unless(  # Az.Migrate's own check and words; the service's code is not documented
                disk["diskId"].lower() not in taken,
                400,
                "InvalidProviderSpecificInput",
                f"The disk uuid '{disk['diskId']}' is already taken.",
            )
            taken.add(disk["diskId"].lower())
            fail_unless(  # Az.Migrate: the log storage account of the replication infrastructure (migratelsa<hash>)
                disk["logStorageAccountId"].lower() == log_storage.lower(),
                400,
                "InvalidProviderSpecificInput",
                f"{where}.logStorageAccountId must be the replication log storage account {log_storage}.",
            )
            fail_unless(  # Az.Migrate: "Premium SSD V2 disk can only be attached to zonal VMs."
                disk.get("diskType") != "PremiumV2_LRS" or bool(d.get("targetAvailabilityZone")),
                400,
                "InvalidProviderSpecificInput",
                f"{where}: a Premium SSD V2 disk can only be attached to a zonal VM (set targetAvailabilityZone).",
            )
            fail_unless(
                disk["diskId"] in known,
                400,
                "DiskNotFound",
                f"{where}.diskId '{disk['diskId']}' is not a disk of {machine.display_name}.",
            )
            fail_unless(
                disk.get("diskType") in (None, *DISK_TYPES),
                400,
                "InvalidDiskType",
                f"{where}.diskType '{disk.get('diskType')}' must be one of {sorted(DISK_TYPES)}.",
            )
            fail_unless(
                disk["isOSDisk"] in ("true", "false"),
                400,
                "InvalidProviderSpecificInput",
                f"{where}.isOSDisk must be the string 'true' or 'false'.",
            )
            os_disks += disk["isOSDisk"] == "true"
        fail_unless(
            os_disks == 1, 400, "InvalidOsDiskSelection", f"Exactly one disk must be the OS disk; {os_disks} are."
        )
        self._check_disk_limits(machine, d["disksToInclude"])
        return machine

    @staticmethod
    def _check_disk_limits(machine: SourceMachine, disks: list[dict]) -> None:
        """Microsoft Learn, "Support matrix for VMware vSphere migration": up to 2 TB OS disk for a generation 1
        VM (BIOS), 4 TB for generation 2 (UEFI), 32 TB data disks, 63 disks. Code not documented."""
        fail_unless(len(disks) <= 63, 400, "InvalidProviderSpecificInput", f"{len(disks)} disks: at most 63 replicate.")
        sizes = {disk.uuid: disk.size_gb for disk in machine.disks}
        for disk in disks:
            is_os = disk["isOSDisk"] == "true"
            limit = (4096 if machine.firmware == "UEFI" else 2048) if is_os else 32768
            fail_unless(
                sizes[disk["diskId"]] <= limit,
                400,
                "InvalidProviderSpecificInput",
                f"Disk {disk['diskId']} is {sizes[disk['diskId']]} GB; {'an OS' if is_os else 'a data'} disk of "
                f"{machine.display_name} may be at most {limit} GB.",
            )

    def _seeded(self, owner: str, t: float) -> None:
        item = self.items.get(owner.lower())
        if item is None:
            return
        if item.resyncing:
            item.resyncing = False
            self.jobs.finish(item.job, t)
            self.world.record(item.machine.name, "resynced", t)
            return
        item.state, item.seeded_at = "Replicating", t
        self.world.initial_replication_ended()
        self.world.record(item.machine.name, "seeded", t)

    # -- the other actions ----------------------------------------------------------------------
    def update(self, call: Call) -> Reply:
        item = self.get(call)
        specific = call.properties().get("providerSpecificDetails") or {}
        fail_unless(
            specific.get("instanceType") == "VMwareCbt",
            400,
            "InvalidProviderSpecificInput",
            "providerSpecificDetails.instanceType must be 'VMwareCbt'.",
        )
        if specific.get("targetVmName"):
            reason = migration_vm_name_problem(specific["targetVmName"])
            fail_unless(
                reason is None, 400, "InvalidTargetVmName", f"targetVmName '{specific['targetVmName']}' {reason}."
            )
        for ref in ("targetNetworkId", "testNetworkId"):
            if specific.get(ref):
                self.world.store.require(specific[ref])
        changes = {k: v for k, v in specific.items() if k not in ("instanceType", "vmNics", "vmDisks")}
        nics = specific.get("vmNics") or []
        item.job = self.jobs.start(
            vault_of(item.id), "UpdateMigrationItem", "Update migration item", item.id, item.machine.display_name
        )

        def complete(t: float) -> None:
            item.details.update(changes)
            if nics:
                item.details["nic"] = {
                    **item.details.get("nic", {}),
                    **{k: v for k, v in nics[0].items() if k != "nicId"},
                }
            self.jobs.finish(item.job, t)

        return self.lro(
            call, item, self.world.config.capacity.arm_seconds, complete, lambda t, e: self.jobs.finish(item.job, t, e)
        )

    def test_migrate(self, call: Call) -> Reply:
        item = self.get(call)
        self._require_allowed(item, "TestMigrate")
        specific = self._specific(call)
        network_id = specific.get("networkId") or ""
        fail_unless(
            self.world.store.get(network_id) is not None,
            400,
            "TestNetworkNotFound",
            f"The test network '{network_id}' was not found.",
        )
        rps = [rp for rp, _ in self._recovery_points(item, self.world.clock.now())]
        fail_unless(
            specific.get("recoveryPointId") in rps,
            400,
            "RecoveryPointNotFound",
            f"The recovery point '{specific.get('recoveryPointId')}' is not a recovery point of {item.name}.",
        )
        nics = specific.get("vmNics") or []
        known_nic = self._nic_details(item)["nicId"]
        for index, nic in enumerate(nics):
            fail_unless(
                nic.get("nicId") == known_nic,
                400,
                "NicNotFound",
                f"vmNics[{index}].nicId '{nic.get('nicId')}' is not a NIC of {item.name} (it has '{known_nic}').",
            )
        subnet = (
            (nics or [{}])[0].get("testSubnetName")
            or item.details.get("nic", {}).get("testSubnetName")
            or item.details.get("testSubnetName")
        )
        subnet = subnet or self.world.store.children(network_id, "subnets")[0]["name"]
        subnet_id = f"{network_id}/subnets/{subnet}"
        self.world.store.require(subnet_id)
        item.test_state = "TestMigrationInProgress"
        item.job = self.jobs.start(
            vault_of(item.id), "TestMigration", "Test migration", item.id, item.machine.display_name
        )
        self.world.record(item.machine.name, "test_migrate_started", network=network_id)

        def complete(t: float) -> None:
            vm = self._create_vm(item, f"{item.details.get('targetVmName', item.machine.display_name)}-test", subnet_id)
            item.test_vm_id, item.test_state = vm["id"], f"TestMigration{call.injected_outcome or 'Succeeded'}"
            item.last_test = (iso(t), "Succeeded")
            self.jobs.finish(item.job, t)
            self.world.record(item.machine.name, "test_migrated", t, vm=vm["id"])

        def fail(t: float, error: dict) -> None:
            item.test_state, item.last_test = "TestMigrationFailed", (iso(t), "Failed")
            self.jobs.finish(item.job, t, error)
            self.world.record(item.machine.name, "test_migrate_failed", t, code=error["code"])

        return self.lro(call, item, self.world.config.capacity.test_migrate_seconds, complete, fail)

    def test_migrate_cleanup(self, call: Call) -> Reply:
        item = self.get(call)
        self._require_allowed(item, "TestMigrateCleanup")
        previous = item.test_state
        item.test_state = "TestMigrationCleanupInProgress"
        item.job = self.jobs.start(
            vault_of(item.id), "TestMigrationCleanup", "Test migration cleanup", item.id, item.machine.display_name
        )

        def complete(t: float) -> None:
            if item.test_vm_id:
                self.compute.remove(item.test_vm_id)
            item.test_vm_id, item.test_state = None, "None"
            self.jobs.finish(item.job, t)
            self.world.record(
                item.machine.name, "test_cleaned_up", t, comments=(call.properties() or {}).get("comments")
            )

        def fail(t: float, error: dict) -> None:
            item.test_state = previous
            self.jobs.finish(item.job, t, error)

        return self.lro(call, item, self.world.config.capacity.cleanup_seconds, complete, fail)

    def migrate(self, call: Call) -> Reply:
        item = self.get(call)
        self._require_allowed(item, "Migrate")
        specific = self._specific(call)
        shutdown = specific.get("performShutdown", "false")
        fail_unless(
            shutdown in ("true", "false"),
            400,
            "InvalidProviderSpecificInput",
            "performShutdown must be the string 'true' or 'false'.",
        )
        cap = self.world.config.capacity
        now = self.world.clock.now()
        rps = self._recovery_points(item, now)
        changed_mb = item.machine.total_gb * 1024 * cap.churn_per_hour * (now - rps[-1][1]) / 3600
        duration = changed_mb / cap.disk_mbps + cap.boot_seconds
        item.state, item.extra["frozen_at"] = "MigrationInProgress", now
        item.job = self.jobs.start(vault_of(item.id), "Migration", "Migration", item.id, item.machine.display_name)
        self.world.record(
            item.machine.name,
            "migrate_started",
            perform_shutdown=shutdown,
            final_sync_seconds=round(duration - cap.boot_seconds, 1),
        )
        if shutdown == "true":
            item.machine.power_state = "OFF"
            self.world.record(item.machine.name, "source_shutdown")

        def complete(t: float) -> None:
            subnet = (
                item.details.get("nic", {}).get("targetSubnetName") or item.details.get("targetSubnetName") or "default"
            )
            subnet_id = f"{item.details['targetNetworkId']}/subnets/{subnet}"
            vm = self._create_vm(item, item.details.get("targetVmName", item.machine.display_name), subnet_id)
            item.vm_id, item.state = vm["id"], f"Migration{call.injected_outcome or 'Succeeded'}"
            item.last_migration = (iso(t), "Succeeded")
            self.jobs.finish(item.job, t)
            nic = self.world.store.require(vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"])
            ip = nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
            self.world.record(item.machine.name, "migrated", t, vm=vm["id"], private_ip=ip, perform_shutdown=shutdown)

        def fail(t: float, error: dict) -> None:
            item.state, item.last_migration = "MigrationFailed", (iso(t), "Failed")
            self.jobs.finish(item.job, t, error)
            self.world.record(item.machine.name, "migrate_failed", t, code=error["code"])

        return self.lro(call, item, duration, complete, fail)

    def resync(self, call: Call) -> Reply:
        item = self.get(call)
        self._require_allowed(item, "StartResync")
        self._specific(call)
        if item.state == "MigrationFailed":
            item.state = "Replicating"
        item.resyncing = True
        item.job = self.jobs.start(vault_of(item.id), "Resync", "Resynchronize", item.id, item.machine.display_name)
        self.world.record(item.machine.name, "resync_started")
        self.world.seeding.add(
            item.id,
            [d.size_gb * 0.1 for d in item.machine.disks],
            self.world.clock.now(),
            self.discovery.vcenter_of(item.machine).id,
        )
        return self.lro(call, item, 0, lambda t: None, lambda t, e: self.jobs.finish(item.job, t, e))

    def pause(self, call: Call) -> Reply:
        item = self.get(call)
        self._require_allowed(item, "PauseReplication")
        item.state = "SuspendingProtection"
        item.extra["frozen_at"] = self.world.clock.now()
        item.job = self.jobs.start(
            vault_of(item.id), "PauseReplication", "Pause replication", item.id, item.machine.display_name
        )

        def complete(t: float) -> None:
            item.state = "ProtectionSuspended"
            self.jobs.finish(item.job, t)
            self.world.record(item.machine.name, "paused", t)

        return self.lro(
            call, item, self.world.config.capacity.arm_seconds, complete, lambda t, e: self.jobs.finish(item.job, t, e)
        )

    def resume(self, call: Call) -> Reply:
        item = self.get(call)
        self._require_allowed(item, "ResumeReplication")
        self._specific(call)
        item.state = "ResumeInProgress"
        item.job = self.jobs.start(
            vault_of(item.id), "ResumeReplication", "Resume replication", item.id, item.machine.display_name
        )

        def complete(t: float) -> None:
            item.state = "Replicating"
            item.extra.pop("frozen_at", None)
            self.jobs.finish(item.job, t)
            self.world.record(item.machine.name, "resumed", t)

        return self.lro(
            call, item, self.world.config.capacity.arm_seconds, complete, lambda t, e: self.jobs.finish(item.job, t, e)
        )

    def delete(self, call: Call) -> Reply:
        """Stop replication, or complete a finished migration: the item and its seed disks go."""
        item = self.items.get(call.path.item_id.lower())
        if item is None:
            return Reply(204)
        option = call.query.get("deleteOption")
        if item.job is not None and item.job["properties"]["state"] == "InProgress" and not option:
            raise conflict(
                "OperationNotAllowed",
                f"Migration item {item.name} has job {item.job['properties']['scenarioName']} in progress.",
            )
        was_seeding = item.state in SEEDING_STATES
        item.state = "DisableMigrationInProgress"
        item.job = self.jobs.start(
            vault_of(item.id), "DisableMigration", "Disable migration", item.id, item.machine.display_name
        )

        def complete(t: float) -> None:
            self.world.seeding.remove(item.id, t)
            if was_seeding:
                self.world.initial_replication_ended()
            if item.test_vm_id:
                self.compute.remove(item.test_vm_id)
            self.items.pop(item.id.lower(), None)
            self.jobs.finish(item.job, t)
            self.world.record(
                item.machine.name, "replication_removed", t, delete_option=option, migrated=item.vm_id is not None
            )

        return self.lro(
            call,
            item,
            self.world.config.capacity.cleanup_seconds,
            complete,
            lambda t, e: self.jobs.finish(item.job, t, e),
        )

    # -- helpers --------------------------------------------------------------------------------
    def _require_allowed(self, item: MigrationItem, operation: str) -> None:
        allowed = item.allowed()
        if operation not in allowed:
            raise bad_request(
                "OperationNotAllowed",
                f"{operation} is not allowed for migration item {item.name} in state {item.state}/{item.test_state}; "
                f"allowed operations: {', '.join(allowed) or 'none'}.",
            )

    @staticmethod
    def _specific(call: Call) -> dict:
        specific = call.properties().get("providerSpecificDetails") or {}
        fail_unless(
            specific.get("instanceType") == "VMwareCbt",
            400,
            "InvalidProviderSpecificInput",
            "providerSpecificDetails.instanceType must be 'VMwareCbt'.",
        )
        return specific

    def _create_vm(self, item: MigrationItem, name: str, subnet_id: str) -> dict:
        d = item.details
        rg_id = d["targetResourceGroupId"]
        existing = self.world.store.get(f"{rg_id}/providers/Microsoft.Compute/virtualMachines/{name}")
        if existing is not None:
            raise ArmError(
                409, "TargetVmNameAlreadyExists", f"A virtual machine named {name} already exists in {rg_id}."
            )
        size = d.get("targetVmSize") or item.machine.recommended_size
        self.compute.quotas.check(self.world.config.region, size)  # before the NIC: a refused VM leaves nothing
        nic = self.network.create_nic(rg_id, f"{name}-nic", self.world.config.region, subnet_id, d.get("targetNicTags"))
        types = {x["diskId"]: x.get("diskType", "Standard_LRS") for x in d["disksToInclude"]}
        disks = sorted(
            (
                {"size_gb": disk.size_gb, "type": types[disk.uuid], "os": disk.is_os}
                for disk in item.machine.disks
                if disk.uuid in types
            ),
            key=lambda x: not x["os"],
        )
        vm = self.compute.create(
            resource_group_id=rg_id,
            name=name,
            location=self.world.config.region,
            size=size,
            os_type=item.machine.os_type,
            disks=disks,
            nic_id=nic["id"],
            tags=d.get("targetVmTags", {}),
        )
        self.compute.guest_ports[vm["id"].lower()] = listening_ports(item.machine.os_type, item.machine)
        return vm

    def recovery_points(self, call: Call) -> Reply:
        item = self.get(call)
        points = [
            {
                "id": rp,
                "name": rp.rsplit("/", 1)[1],
                "type": f"{ITEM_TYPE}/migrationRecoveryPoints",
                "properties": {"recoveryPointTime": iso(t), "recoveryPointType": "CrashConsistent"},
            }
            for rp, t in self._recovery_points(item, self.world.clock.now())
        ]
        return list_items(self.world, call, points)


def register(
    router: Router, world: World, jobs: Jobs, compute: Compute, network: Network, discovery: Discovery
) -> MigrationItems:
    items = MigrationItems(world, jobs, compute, network, discovery)
    base = register_item_routes(router, items, "replicationMigrationItems")
    router.add("PATCH", ITEM, base, items.update, API)
    router.add("DELETE", ITEM, base, items.delete, API)
    router.add("GET", COLLECTION, f"{base}/migrationRecoveryPoints", items.recovery_points, API)
    for action, handler in [
        ("testMigrate", items.test_migrate),
        ("testMigrateCleanup", items.test_migrate_cleanup),
        ("migrate", items.migrate),
        ("resync", items.resync),
        ("pauseReplication", items.pause),
        ("resumeReplication", items.resume),
    ]:
        router.add("POST", ACTION, base, handler, API, action)
    return items
