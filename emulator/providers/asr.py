"""Microsoft.RecoveryServices Site Recovery infrastructure: fabrics, protection containers,
replication policies, container mappings and jobs, plus what the other Site Recovery modules share."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from wavelift.emulator.clock import iso
from wavelift.emulator.errors import bad_request, not_found
from wavelift.emulator.providers.common import get_item, list_children, list_items, require_parent
from wavelift.emulator.routing import COLLECTION, ITEM, Call, Reply, Router
from wavelift.emulator.world import World

if TYPE_CHECKING:
    from wavelift.emulator.providers.compute import Compute
    from wavelift.emulator.providers.network import Network

API = {"2025-08-01", "2025-01-01", "2024-10-01", "2024-01-01"}
NS = "Microsoft.RecoveryServices"
VAULT_TYPE = f"{NS}/vaults"
JOB_TYPE = f"{NS}/vaults/replicationJobs"
INFRA = {
    "replicationFabrics": "replicationFabrics",
    "replicationFabrics/replicationProtectionContainers": "replicationProtectionContainers",
    "replicationFabrics/replicationProtectionContainers/replicationProtectionContainerMappings": (
        "replicationProtectionContainerMappings"
    ),
    "replicationPolicies": "replicationPolicies",
}


def vault_of(item_id: str) -> str:
    """The vault id that a Site Recovery resource id lives under."""
    parts = item_id.split("/")
    index = [p.lower() for p in parts].index("vaults")
    return "/".join(parts[: index + 2])


class Jobs:
    """Site Recovery jobs: one per action, InProgress until its operation ends."""

    def __init__(self, world: World) -> None:
        self.world = world

    def start(self, vault_id: str, scenario: str, friendly: str, target_id: str, target_name: str) -> dict:
        name = str(uuid.uuid4())
        job = {
            "id": f"{vault_id}/replicationJobs/{name}",
            "name": name,
            "type": JOB_TYPE,
            "location": self.world.config.region,
            "properties": {
                "activityId": str(uuid.uuid4()),
                "scenarioName": scenario,
                "friendlyName": friendly,
                "state": "InProgress",
                "stateDescription": "InProgress",
                "errors": [],
                "tasks": [
                    {
                        "taskId": str(uuid.uuid4()),
                        "name": f"{scenario}Task",
                        "friendlyName": friendly,
                        "state": "InProgress",
                        "stateDescription": "InProgress",
                        "startTime": iso(self.world.clock.now()),
                        "allowedActions": [],
                        "taskType": "TaskDetails",
                        "customDetails": {"instanceType": "JobTaskDetails"},
                        "errors": [],
                    }
                ],
                "startTime": iso(self.world.clock.now()),
                "allowedActions": ["Cancel"],
                "targetObjectId": target_id,
                "targetObjectName": target_name,
                "targetInstanceType": "ProtectionEntity",
                "customDetails": {  # as in Microsoft's example ReplicationJobs_Get.json (2025-08-01)
                    "instanceType": "AsrJobDetails",
                    "affectedObjectDetails": {"ProtectionEntityName": target_name, "RecoveryFabricProviderId": "Azure"},
                },
            },
        }
        return self.world.store.put(job)

    def finish(self, job: dict, t: float, error: dict | None = None) -> None:
        props = job["properties"]
        props["endTime"] = iso(t)
        props["allowedActions"] = ["Restart"] if error else []
        props["state"], props["stateDescription"] = ("Failed", "Failed") if error else ("Succeeded", "Completed")
        for step in props["tasks"]:
            step.update(state=props["state"], stateDescription=props["stateDescription"], endTime=iso(t))
        if error:
            props["errors"] = [
                {
                    "serviceErrorDetails": {
                        "code": error["code"],
                        "message": error["message"],
                        "possibleCauses": "",
                        "recommendedAction": "Retry the operation.",
                    },
                    "creationTime": iso(t),
                }
            ]

    @staticmethod
    def current(job: dict | None) -> dict | None:
        """An item's `currentJob`: the job in progress, or (as Microsoft's example ReplicationMigrationItems_Get.json
        shows for 2025-08-01) a job named "None" with the last job's start time once none is."""
        if job is None:
            return None
        if job["properties"]["state"] != "InProgress":
            vault_jobs = job["id"].rsplit("/", 1)[0]
            return {"jobName": "None", "jobId": f"{vault_jobs}/None", "startTime": job["properties"]["startTime"]}
        return {
            "jobName": job["properties"]["scenarioName"],
            "jobId": job["id"],
            "startTime": job["properties"]["startTime"],
        }

    @staticmethod
    def in_progress(job: dict | None) -> bool:
        return job is not None and job["properties"]["state"] == "InProgress"


class _Item(Protocol):
    id: str
    name: str
    job: dict | None


T = TypeVar("T", bound=_Item)


class ReplicatedItems(Generic[T]):
    """What Site Recovery's item types share: a table by id, lookups that answer ARM's 404, LROs on
    the vault's monitors, and lists scoped to a vault or a container."""

    def __init__(self, world: World, jobs: Jobs, compute: Compute, network: Network) -> None:
        self.world = world
        self.jobs = jobs
        self.compute = compute
        self.network = network
        self.items: dict[str, T] = {}

    def render(self, item: T) -> dict:
        raise NotImplementedError

    def get(self, call: Call) -> T:
        item = self.items.get(call.path.item_id.lower())
        if item is None:
            raise not_found(call.path.item_id)
        return item

    def lro(
        self,
        call: Call,
        item: T,
        duration: float,
        complete: Callable[[float], None],
        fail: Callable[[float, dict], None],
    ) -> Reply:
        """Start an action on `item`; its result is the item as it then is (204 once removed).

        The operation is the item's job: Site Recovery's monitor URLs end in the job's name, which
        Az.Migrate reads back (`$output.Target.Split("/")[12]` in New-AzMigrateServerReplication.ps1 and its
        siblings) to return the job."""
        return self.world.lro(
            call,
            style="asr",
            monitor_prefix=vault_of(item.id),
            operation_id=item.job["name"] if Jobs.in_progress(item.job) else None,
            duration=duration,
            complete=complete,
            fail=fail,
            result=lambda: (200, self.render(item)) if item.id.lower() in self.items else (204, None),
        )

    def list_in(self, call: Call) -> Reply:
        """The items under the vault or container the path names."""
        scope = self.world.store.require(call.path.item_id)["id"].lower() + "/"
        return list_items(self.world, call, [i for key, i in self.items.items() if key.startswith(scope)], self.render)


def register_item_routes(router: Router, items: ReplicatedItems, collection: str) -> str:
    """The routes every replicated-item type has: create, get, list per container and per vault.
    Returns the item route's type path, for the type's own actions."""
    base = f"{NS}/vaults/replicationFabrics/replicationProtectionContainers/{collection}"
    router.add("PUT", ITEM, base, items.create, API)
    router.add("GET", ITEM, base, lambda c: Reply(200, items.render(items.get(c))), API)
    router.add("GET", COLLECTION, base, items.list_in, API)
    router.add("GET", COLLECTION, f"{NS}/vaults/{collection}", items.list_in, API)
    return base


class Infrastructure:
    """Fabrics, containers, policies and mappings: created by PUT (an LRO), read and listed."""

    def __init__(self, world: World) -> None:
        self.world = world

    def put(self, call: Call) -> Reply:
        """Create a Site Recovery infrastructure object; `*Input` fields become `*Details`, as Azure echoes them."""
        require_parent(self.world, call)
        self.world.store.require(vault_of(call.path.item_id))
        props = copy.deepcopy(call.properties())
        if "providerSpecificInput" in props:
            specific = props.pop("providerSpecificInput")
            props["providerSpecificDetails"] = specific[0] if isinstance(specific, list) and specific else specific
        for ref in ("policyId", "targetProtectionContainerId"):
            if props.get(ref):
                self.world.store.require(props[ref])
        props.setdefault("friendlyName", call.path.names[-1])
        resource = {
            "id": call.path.item_id,
            "name": call.path.names[-1],
            "type": f"{NS}/{call.path.type_path.split('/', 1)[1]}",
            "location": self.world.config.region,
            "properties": props,
        }
        if self.world.store.get(resource["id"]) is not None:
            raise bad_request("ResourceAlreadyExists", f"{call.path.names[-1]} already exists in the vault.")
        return self.world.lro(
            call,
            style="asr",
            monitor_prefix=vault_of(call.path.item_id),
            duration=self.world.config.capacity.arm_seconds,
            complete=lambda t: self.world.store.put(resource) and None,
            result=lambda: (200, self.world.store.require(resource["id"])),
        )

    def seed(self, resource_id: str, properties: dict[str, Any]) -> dict:
        """Create an object at start-up, as Azure Migrate's appliance registration would have."""
        type_path = "/".join(
            p for i, p in enumerate(resource_id.split("/")[resource_id.split("/").index(NS) + 1 :]) if i % 2 == 0
        )
        return self.world.store.put(
            {
                "id": resource_id,
                "name": resource_id.rsplit("/", 1)[1],
                "type": f"{NS}/{type_path}",
                "location": self.world.config.region,
                "properties": properties,
            }
        )


def register(router: Router, world: World) -> tuple[Infrastructure, Jobs]:
    infra = Infrastructure(world)
    jobs = Jobs(world)
    w = world
    for path in INFRA:
        router.add("PUT", ITEM, f"{NS}/vaults/{path}", infra.put, API)
        router.add("GET", ITEM, f"{NS}/vaults/{path}", lambda c: get_item(w, c), API)
        router.add("GET", COLLECTION, f"{NS}/vaults/{path}", lambda c: list_children(w, c), API)
    router.add("GET", ITEM, f"{NS}/vaults/replicationJobs", lambda c: get_item(w, c), API)
    router.add(
        "GET",
        COLLECTION,
        f"{NS}/vaults/replicationJobs",
        lambda c: list_items(
            w,
            c,
            sorted(
                w.store.children(w.store.require(c.path.item_id)["id"], "replicationJobs"),
                key=lambda j: j["properties"]["startTime"],
                reverse=True,
            ),
        ),
        API,
    )
    return infra, jobs
