"""The VM sizes the emulator knows, with the capabilities Azure's Resource SKUs API reports for them.

A small catalog, not Azure's: enough for the sizes the emulated estate and the tests use, one legacy
size without encryption at host (Microsoft Learn, "Encryption at host": legacy sizes are not supported),
and the vCPU family each size counts against in the regional quota.
"""

from __future__ import annotations

from typing import NamedTuple


class VmSize(NamedTuple):
    family: str
    vcpus: int
    memory_gb: float
    encryption_at_host: bool


VM_SIZES: dict[str, VmSize] = {
    "Standard_A2_v2": VmSize("standardAv2Family", 2, 4, False),
    "Standard_B2s": VmSize("standardBSFamily", 2, 4, True),
    "Standard_D2s_v3": VmSize("standardDSv3Family", 2, 8, True),
    "Standard_D4s_v3": VmSize("standardDSv3Family", 4, 16, True),
    "Standard_D8s_v3": VmSize("standardDSv3Family", 8, 32, True),
    "Standard_D16s_v3": VmSize("standardDSv3Family", 16, 64, True),
    "Standard_E2s_v3": VmSize("standardESv3Family", 2, 16, True),
    "Standard_E4s_v3": VmSize("standardESv3Family", 4, 32, True),
    "Standard_E8s_v3": VmSize("standardESv3Family", 8, 64, True),
    "Standard_E16s_v3": VmSize("standardESv3Family", 16, 128, True),
    "Standard_F2s_v2": VmSize("standardFSv2Family", 2, 4, True),
}


def sku(name: str, size: VmSize, region: str) -> dict:
    """One `Microsoft.Compute/skus` entry, as the Resource SKUs API lists it."""
    return {
        "resourceType": "virtualMachines",
        "name": name,
        "tier": name.split("_", 1)[0],
        "size": name.split("_", 1)[1],
        "family": size.family,
        "locations": [region],
        "locationInfo": [{"location": region, "zones": ["1", "2", "3"]}],
        "capabilities": [
            {"name": "vCPUs", "value": str(size.vcpus)},
            {"name": "MemoryGB", "value": f"{size.memory_gb:g}"},
            {"name": "EncryptionAtHostSupported", "value": str(size.encryption_at_host)},
            {"name": "PremiumIO", "value": "True"},
        ],
        "restrictions": [],
    }
