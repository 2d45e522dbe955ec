"""Is the test network isolated from production? Read before each test migration (DESIGN rule 7).

The target block already refuses a test network that is the production network or a part of it; a
network can still be peered to production after the block was saved, so the peerings of both networks
are read from Azure right before a test VM is created there.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.tasks.names import same_resource, within


def _vnet(target: AzureMigrationTarget, vnet_id: str) -> Any | None:
    """The virtual network with its peerings, or None when it does not exist."""
    subscription, resource_group, name = vnet_id.split("/")[2], vnet_id.split("/")[4], vnet_id.rsplit("/", 1)[1]
    try:
        return target.network_client(subscription).virtual_networks.get(resource_group, name)
    except ResourceNotFoundError:
        return None


def isolation_problem(target: AzureMigrationTarget) -> str | None:
    """Why test migrations must not go to the target's test network now, or None when it is isolated:
    it must exist, differ from the production network and be peered with it in neither direction."""
    test_id, production_id = target.test_network_id, target.target_network_id
    if within(test_id, production_id):
        return f"the test network {test_id} is the production network or a part of it"
    test, production = _vnet(target, test_id), _vnet(target, production_id)
    if test is None:
        return f"the test network {test_id} does not exist"
    for network, other in ((test, production_id), (production, test_id)):
        for peering in (network.virtual_network_peerings or []) if network is not None else []:
            remote = peering.remote_virtual_network.id if peering.remote_virtual_network else ""
            if same_resource(remote, other):
                state = getattr(
                    peering.peering_state, "value", peering.peering_state
                )  # an SDK enum prints its class, not Azure's word
                return (
                    f"the test network is peered with the production network ({peering.name}, {state}): "
                    "a test VM there could reach production servers; remove the peering or choose an isolated test "
                    "network"
                )
    return None
