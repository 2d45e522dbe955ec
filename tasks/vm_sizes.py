"""The VM sizes of the target region, as the Resource SKUs API describes them, read once per process.

The list is long and the same for every machine of a wave; encryption at host and the preflight both ask
it what a size is (its vCPU family and count for the regional quota, whether it takes encryption at host,
whether the subscription may use it in the region).
"""

from __future__ import annotations

import threading

from pydantic import BaseModel

from wavelift.blocks.azure import AzureMigrationTarget


class SizeInfo(BaseModel):
    """What the Resource SKUs API says of one VM size in one region."""

    family: str
    vcpus: int
    encryption_at_host: bool
    restricted: bool = False  # not offered to this subscription in the region (`NotAvailableForSubscription`)


_CATALOGS: dict[tuple[str, str], dict[str, SizeInfo]] = {}  # (subscription, region) -> lower-cased size -> info
_LOCK = threading.Lock()


def _capability(sku: object, name: str) -> str:
    return next((c.value for c in getattr(sku, "capabilities", None) or [] if c.name == name), "")


def size_catalog(target: AzureMigrationTarget) -> dict[str, SizeInfo]:
    """Each VM size of the target region, by lower-cased name."""
    key = (target.subscription_id, target.target_region.lower())
    with _LOCK:
        if key not in _CATALOGS:
            skus = target.compute_client().resource_skus.list(filter=f"location eq '{target.target_region}'")
            _CATALOGS[key] = {
                s.name.lower(): SizeInfo(
                    family=s.family or "",
                    vcpus=int(_capability(s, "vCPUs") or 0),
                    encryption_at_host=_capability(s, "EncryptionAtHostSupported").lower() == "true",
                    restricted=any(r.reason_code == "NotAvailableForSubscription" for r in s.restrictions or []),
                )
                for s in skus
                if s.resource_type == "virtualMachines"
            }
        return _CATALOGS[key]
