"""Regional vCPU quotas: the Compute usage list, the Quota API that raises a limit, and the refusal of a VM
that would exceed one.

A subscription may run, per region, so many vCPUs of each VM family and so many in all ("Total Regional
vCPUs", usage name `cores`). `GET .../Microsoft.Compute/locations/{region}/usages` (operation `Usage_List`)
reports each with its current value and limit; creating a VM beyond either fails with `OperationNotAllowed`
"Operation results in exceeding quota limits of Core" (Microsoft Learn, "Resolve errors for resource
quotas"), and so does a migration or test migration, whose job then fails. A limit is raised through the
Quota API (`PUT {scope}/providers/Microsoft.Quota/quotas/{family}`, operation `Quota_CreateOrUpdate`, as
`az quota update` does); the emulator grants a request at once, as Azure does for most vCPU increases.
"""

from __future__ import annotations

from collections import Counter

from wavelift.emulator.errors import ArmError
from wavelift.emulator.providers.common import fail_unless, list_items
from wavelift.emulator.routing import COLLECTION, ITEM, Call, Reply, Router
from wavelift.emulator.skus import VM_SIZES
from wavelift.emulator.world import World

USAGE_API = {"2026-04-01", "2025-04-01", "2024-11-01", "2024-07-01"}
QUOTA_API = {"2025-09-01", "2023-02-01"}
TOTAL = "cores"  # the regional total, "Total Regional vCPUs"
DEFAULT_FAMILY_LIMIT = 20_000
DEFAULT_TOTAL_LIMIT = 50_000
VM_TYPE = "Microsoft.Compute/virtualMachines"
QUOTA_NAMES = {name.lower(): name for name in [TOTAL, *sorted({s.family for s in VM_SIZES.values()})]}


def _localized(family: str) -> str:
    """'standardDSv3Family' -> 'Standard DSv3 Family vCPUs', as the usage list names it."""
    if family == TOTAL:
        return "Total Regional vCPUs"
    return f"Standard {family.removeprefix('standard').removesuffix('Family')} Family vCPUs"


class Quotas:
    """Each region's vCPU limits (the configured overrides over generous defaults) and what the VMs use."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.limits: dict[tuple[str, str], int] = {}  # (region, family) -> limit, for the families raised or set
        for family, limit in world.config.vcpu_quota.items():
            for region in (world.config.region, world.config.secondary_region):
                self.limits[(region.lower(), family.lower())] = limit

    def limit(self, region: str, family: str) -> int:
        default = DEFAULT_TOTAL_LIMIT if family == TOTAL else DEFAULT_FAMILY_LIMIT
        return self.limits.get((region.lower(), family.lower()), default)

    def usage(self, region: str) -> Counter[str]:
        """vCPUs in use by family (and in all, `cores`) among the region's VMs."""
        used: Counter[str] = Counter()
        for vm in self.world.store.of_type(VM_TYPE):
            size = VM_SIZES.get((vm["properties"].get("hardwareProfile") or {}).get("vmSize", ""))
            if size is not None and vm.get("location", "").lower() == region.lower():
                used[size.family] += size.vcpus
                used[TOTAL] += size.vcpus
        return used

    def check(self, region: str, vm_size: str) -> None:
        """Refuse a new VM of `vm_size` in `region` that would exceed its family's limit or the regional total."""
        size = VM_SIZES.get(vm_size)
        if size is None:
            return
        used = self.usage(region)
        for family in (size.family, TOTAL):
            limit = self.limit(region, family)
            if used[family] + size.vcpus > limit:
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    f"Operation results in exceeding quota limits of {_localized(family)}. Maximum allowed: {limit}, "
                    f"Current in use: {used[family]}, Additional requested: {size.vcpus}.",
                )

    # -- routes ------------------------------------------------------------------------------------
    def list_usages(self, call: Call) -> Reply:
        region = call.path.names[0]
        used = self.usage(region)
        items = [
            {
                "unit": "Count",
                "currentValue": used[family],
                "limit": self.limit(region, family),
                "name": {"value": family, "localizedValue": _localized(family)},
            }
            for family in QUOTA_NAMES.values()
        ]
        return list_items(self.world, call, items)

    def _quota(self, call: Call) -> tuple[str, str]:
        region, provider, family = call.path.names
        fail_unless(provider.lower() == "microsoft.quota", 404, "ResourceNotFound", f"No provider {provider} here.")
        fail_unless(
            family.lower() in QUOTA_NAMES,
            400,
            "InvalidResourceName",  # code not documented by Microsoft
            f"{family} is not a quota resource name of Microsoft.Compute in {region}.",
        )
        return region, QUOTA_NAMES[family.lower()]

    def _render(self, call: Call, region: str, family: str) -> dict:
        return {
            "id": call.path.item_id,
            "name": family,
            "type": "Microsoft.Quota/Quotas",
            "properties": {
                "name": {"value": family, "localizedValue": _localized(family)},
                "isQuotaApplicable": True,
                "limit": {
                    "limitObjectType": "LimitValue",
                    "limitType": "Independent",
                    "value": self.limit(region, family),
                },
                "unit": "Count",
            },
        }

    def get_quota(self, call: Call) -> Reply:
        return Reply(200, self._render(call, *self._quota(call)))

    def put_quota(self, call: Call) -> Reply:
        """Raise (or lower) a limit: granted at once, but never below what the region's VMs already use."""
        region, family = self._quota(call)
        limit = (call.properties().get("limit") or {}).get("value")
        fail_unless(
            isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0,
            400,
            "InvalidQuotaLimit",  # code not documented by Microsoft
            "properties.limit.value must be a whole number of vCPUs.",
        )
        fail_unless(
            limit >= self.usage(region)[family],
            400,
            "QuotaReductionNotAllowed",  # code not documented by Microsoft
            f"The new limit {limit} is below the {self.usage(region)[family]} vCPUs of {family} in use in {region}.",
        )
        self.limits[(region.lower(), family.lower())] = limit
        return Reply(200, self._render(call, region, family))


def register(router: Router, world: World) -> Quotas:
    quotas = Quotas(world)
    router.add("GET", COLLECTION, "Microsoft.Compute/locations/usages", quotas.list_usages, USAGE_API)
    router.add("GET", ITEM, "Microsoft.Compute/locations/providers/quotas", quotas.get_quota, QUOTA_API)
    router.add("PUT", ITEM, "Microsoft.Compute/locations/providers/quotas", quotas.put_quota, QUOTA_API)
    return quotas
