"""Microsoft.Network: virtual networks and subnets, NICs with private IPs, NSGs and their rules."""

from __future__ import annotations

import copy
import hashlib
import ipaddress
from typing import Any

from wavelift.emulator.errors import bad_request, conflict
from wavelift.emulator.providers.common import (
    check_name,
    delete_with_lro,
    fail_unless,
    get_item,
    list_children,
    list_items,
    put_provisioned,
    reference,
    require_parent,
    shell,
)
from wavelift.emulator.routing import COLLECTION, ITEM, Call, Reply, Router
from wavelift.emulator.world import World

API = {"2026-03-01", "2024-05-01", "2024-07-01", "2023-09-01"}
NS = "Microsoft.Network"
PROTOCOLS = {"Tcp", "Udp", "Icmp", "Esp", "Ah", "*"}
DEFAULT_RULES = [  # as Microsoft's example NetworkSecurityGroupGet.json (2025-05-01) lists them, descriptions included
    ("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*"),
    ("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
    ("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet"),
    ("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*"),
]
DEFAULT_RULE_DESCRIPTIONS = {
    "AllowVnetInBound": "Allow inbound traffic from all VMs in VNET",
    "AllowAzureLoadBalancerInBound": "Allow inbound traffic from azure load balancer",
    "DenyAllInBound": "Deny all inbound traffic",
    "AllowVnetOutBound": "Allow outbound traffic from all VMs to all VMs in VNET",
    "AllowInternetOutBound": "Allow outbound traffic from all VMs to Internet",
    "DenyAllOutBound": "Deny all outbound traffic",
}


def _is_address(prefix: str) -> bool:
    """An IP address or range, as opposed to a service tag such as VirtualNetwork or '*'."""
    try:
        ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return False
    return True


class Network:
    """The network side of the world, also used by Compute and Site Recovery to place NICs."""

    def __init__(self, world: World) -> None:
        self.world = world

    # -- virtual networks and subnets ------------------------------------------------------------
    def put_vnet(self, call: Call) -> Reply:
        check_name(call.path.names[-1], "virtual network")
        resource = shell(call, f"{NS}/virtualNetworks")
        props = resource["properties"]
        prefixes = (props.get("addressSpace") or {}).get("addressPrefixes") or []
        fail_unless(
            bool(prefixes), 400, "InvalidAddressSpace", "The virtual network needs addressSpace.addressPrefixes."
        )
        for prefix in prefixes:
            self._network(prefix, "addressSpace.addressPrefixes")
        for subnet in props.pop("subnets", []) or []:
            self._store_subnet(resource["id"], subnet.get("name", ""), subnet.get("properties") or {})
        return put_provisioned(self.world, call, resource, self.render_vnet)

    def put_subnet(self, call: Call) -> Reply:
        require_parent(self.world, call)
        vnet_id = call.path.item_id.rsplit("/", 2)[0]
        subnet = self._store_subnet(vnet_id, call.path.names[-1], call.properties())
        return put_provisioned(self.world, call, subnet)

    def _store_subnet(self, vnet_id: str, name: str, props: dict) -> dict:
        check_name(name, "subnet")
        self._network(props.get("addressPrefix", ""), "properties.addressPrefix")
        subnet = {
            "id": f"{vnet_id}/subnets/{name}",
            "name": name,
            "type": f"{NS}/virtualNetworks/subnets",
            "properties": {**props, "provisioningState": "Succeeded"},
        }
        return self.world.store.put(subnet)

    @staticmethod
    def _network(prefix: str, field: str) -> ipaddress.IPv4Network:
        try:
            return ipaddress.ip_network(prefix)
        except ValueError:
            raise bad_request(
                "InvalidAddressPrefix", f"The value '{prefix}' of {field} is not a valid CIDR address prefix."
            ) from None

    def list_usage(self, call: Call) -> Reply:
        """Each subnet's addresses in use and its limit: the subnet's size less the five Azure reserves
        (`VirtualNetworks_ListUsage`; Az.Network's Get-AzVirtualNetworkUsageList shows a /24 as 251)."""
        vnet = self.world.store.require(call.path.item_id)
        items = [
            {
                "id": subnet["id"],
                "currentValue": len(self._used_ips(subnet["id"])),
                "limit": self._network(subnet["properties"].get("addressPrefix", ""), "addressPrefix").num_addresses
                - 5,
                "name": {"value": "Subnet size and usage", "localizedValue": "Subnet size and usage"},
                "unit": "Count",
            }
            for subnet in self.world.store.children(vnet["id"], "subnets")
        ]
        return list_items(self.world, call, items)

    def render_vnet(self, vnet: dict) -> dict:
        out = copy.deepcopy(vnet)
        out["properties"]["subnets"] = self.world.store.children(vnet["id"], "subnets")
        out["properties"]["virtualNetworkPeerings"] = [
            self.render_peering(p) for p in self.world.store.children(vnet["id"], "virtualNetworkPeerings")
        ]
        return out

    # -- peerings ----------------------------------------------------------------------------------
    def put_peering(self, call: Call) -> Reply:
        """Peer a VNet with another (Learn, "Create, change, or delete a virtual network peering": the remote
        network must exist and the two address spaces must not overlap). The state is Initiated until the
        remote network peers back, then Connected on both sides (`render_peering`)."""
        require_parent(self.world, call)
        check_name(call.path.names[-1], "virtual network peering")
        vnet = self.world.store.require(call.path.item_id.rsplit("/", 2)[0])
        props = call.properties()
        remote_id = reference(props, "remoteVirtualNetwork") or ""
        remote = self.world.store.get(remote_id)
        fail_unless(
            remote is not None,
            400,
            "ReferencedResourceNotProvisioned",  # code not documented by Microsoft
            f"The remote virtual network {remote_id or '(none)'} of the peering does not exist.",
        )
        mine, theirs = self._address_space(vnet), self._address_space(remote)
        overlap = next(((a, b) for a in mine for b in theirs if a.overlaps(b)), None)
        fail_unless(
            overlap is None,
            400,
            "VnetAddressSpacesOverlap",  # code not documented by Microsoft
            f"Cannot peer {vnet['id']} with {remote_id}: address space {overlap and overlap[0]} overlaps "
            f"{overlap and overlap[1]}.",
        )
        resource = shell(call, f"{NS}/virtualNetworks/virtualNetworkPeerings", properties=props)
        return put_provisioned(self.world, call, resource, self.render_peering)

    def _address_space(self, vnet: dict) -> list[ipaddress.IPv4Network]:
        return [
            self._network(p, "addressSpace.addressPrefixes")
            for p in vnet["properties"]["addressSpace"]["addressPrefixes"]
        ]

    def render_peering(self, peering: dict) -> dict:
        out = copy.deepcopy(peering)
        local_vnet = peering["id"].rsplit("/", 2)[0]
        remote_id = reference(peering["properties"], "remoteVirtualNetwork") or ""
        back = [
            p
            for p in self.world.store.children(remote_id, "virtualNetworkPeerings")
            if (reference(p["properties"], "remoteVirtualNetwork") or "").lower() == local_vnet.lower()
        ]
        out["properties"]["peeringState"] = "Connected" if back else "Initiated"
        remote = self.world.store.get(remote_id)
        if remote is not None:
            out["properties"]["remoteAddressSpace"] = copy.deepcopy(remote["properties"]["addressSpace"])
        return out

    # -- network interfaces ------------------------------------------------------------------------
    def _not_busy(self, resource_id: str) -> None:
        """One operation at a time on a network resource: a PUT while the last one runs is refused (Learn,
        "Troubleshoot common Azure deployment errors": AnotherOperationInProgress, wait and retry)."""
        existing = self.world.store.get(resource_id)
        if existing is not None and existing["properties"].get("provisioningState") in ("Creating", "Updating"):
            raise conflict(
                "AnotherOperationInProgress",
                f"Another operation on this or dependent resource is in progress: {resource_id}. Retry later.",
            )

    def put_nic(self, call: Call) -> Reply:
        check_name(call.path.names[-1], "network interface")
        resource = shell(call, f"{NS}/networkInterfaces")
        self._not_busy(resource["id"])
        existing = self.world.store.get(resource["id"])
        if existing is not None and "virtualMachine" in existing["properties"]:
            resource["properties"]["virtualMachine"] = existing["properties"]["virtualMachine"]
        self._configure_nic(resource)
        return put_provisioned(self.world, call, resource)

    def _configure_nic(self, nic: dict) -> None:
        props = nic["properties"]
        configs = props.get("ipConfigurations") or []
        fail_unless(
            bool(configs),
            400,
            "NetworkInterfaceMustHaveIpConfiguration",
            f"Network interface {nic['id']} must have one or more IP configurations.",
        )
        nsg_id = reference(props, "networkSecurityGroup")
        if nsg_id:
            self.world.store.require(nsg_id)
        for index, config in enumerate(configs):
            ip_props = config.setdefault("properties", {})
            config.setdefault("name", f"ipconfig{index + 1}")
            config["id"] = f"{nic['id']}/ipConfigurations/{config['name']}"
            subnet_id = reference(ip_props, "subnet")
            fail_unless(
                bool(subnet_id),
                400,
                "InvalidRequestFormat",
                f"ipConfigurations[{index}].properties.subnet.id is required.",
            )
            subnet = self.world.store.require(subnet_id)
            method = ip_props.get("privateIPAllocationMethod", "Dynamic")
            fail_unless(
                method in ("Dynamic", "Static"),
                400,
                "InvalidRequestFormat",
                f"privateIPAllocationMethod '{method}' must be Dynamic or Static.",
            )
            ip_props["privateIPAllocationMethod"] = method
            if method == "Dynamic" or not ip_props.get("privateIPAddress"):
                ip_props["privateIPAddress"] = self._free_ip(subnet, nic["id"])
            ip_props.setdefault("primary", index == 0)
            ip_props.setdefault("privateIPAddressVersion", "IPv4")
            ip_props["provisioningState"] = "Succeeded"
        digest = hashlib.sha256(nic["id"].lower().encode()).digest()
        props.setdefault("macAddress", "00-0D-3A-" + "-".join(f"{b:02X}" for b in digest[:3]))
        # the defaults Azure fills in (Microsoft's example NetworkInterfaceGet.json, 2025-05-01)
        dns = props.setdefault("dnsSettings", {})
        dns.setdefault("dnsServers", [])
        dns.setdefault("appliedDnsServers", dns["dnsServers"])
        dns.setdefault("internalDomainNameSuffix", f"{digest[3:9].hex()}.ax.internal.cloudapp.net")
        for flag in ("enableAcceleratedNetworking", "disableTcpStateTracking", "enableIPForwarding"):
            props.setdefault(flag, False)
        props.setdefault("vnetEncryptionSupported", False)
        props.setdefault("primary", True)

    def _used_ips(self, subnet_id: str, except_nic: str = "") -> set[str]:
        """The private addresses NICs hold in a subnet (but `except_nic`'s)."""
        used = set()
        for nic in self.world.store.of_type(f"{NS}/networkInterfaces"):
            for config in nic["properties"].get("ipConfigurations", []):
                if (
                    nic["id"].lower() != except_nic.lower()
                    and (reference(config.get("properties"), "subnet") or "").lower() == subnet_id.lower()
                ):
                    used.add(config["properties"].get("privateIPAddress"))
        return used

    def _free_ip(self, subnet: dict, nic_id: str) -> str:
        """The lowest address Azure would hand out (it reserves the first four and the last)."""
        network = self._network(subnet["properties"].get("addressPrefix", ""), "addressPrefix")
        used = self._used_ips(subnet["id"], nic_id)
        for host in list(network.hosts())[3:-1]:
            if str(host) not in used:
                return str(host)
        raise bad_request("SubnetIsFull", f"Subnet {subnet['id']} has no free private IP address.")

    def create_nic(
        self, resource_group_id: str, name: str, location: str, subnet_id: str, tags: dict | None = None
    ) -> dict:
        """Create a NIC directly (a migration or test migration creates one with its VM)."""
        nic = {
            "id": f"{resource_group_id}/providers/{NS}/networkInterfaces/{name}",
            "name": name,
            "type": f"{NS}/networkInterfaces",
            "location": location,
            "tags": tags or {},
            "properties": {
                "ipConfigurations": [
                    {
                        "name": "ipconfig1",
                        "properties": {"subnet": {"id": subnet_id}, "privateIPAllocationMethod": "Dynamic"},
                    }
                ]
            },
        }
        self._configure_nic(nic)
        nic["properties"]["provisioningState"] = "Succeeded"
        return self.world.store.put(nic)

    def delete_nic(self, call: Call) -> Reply:
        nic = self.world.store.get(call.path.item_id)
        if nic is not None and "virtualMachine" in nic["properties"]:
            raise bad_request(
                "NicInUse",
                f"Network Interface {nic['id']} is used by existing resource "
                f"{nic['properties']['virtualMachine']['id']}.",
            )
        return delete_with_lro(self.world, call)

    # -- network security groups -------------------------------------------------------------------
    def put_nsg(self, call: Call) -> Reply:
        check_name(call.path.names[-1], "network security group")
        resource = shell(call, f"{NS}/networkSecurityGroups")
        self._not_busy(resource["id"])
        rules = resource["properties"].pop("securityRules", []) or []
        for rule in self.world.store.children(resource["id"], "securityRules"):
            self.world.store.delete(rule["id"])
        for rule in rules:
            self._store_rule(resource["id"], rule.get("name", ""), rule.get("properties") or {})
        resource["properties"]["defaultSecurityRules"] = [
            {
                "id": f"{resource['id']}/defaultSecurityRules/{name}",
                "name": name,
                "type": f"{NS}/networkSecurityGroups/defaultSecurityRules",
                "properties": {
                    "description": DEFAULT_RULE_DESCRIPTIONS[name],
                    "protocol": "*",
                    "sourcePortRange": "*",
                    "destinationPortRange": "*",
                    "sourceAddressPrefix": src,
                    "destinationAddressPrefix": dst,
                    "access": access,
                    "priority": priority,
                    "direction": direction,
                    "provisioningState": "Succeeded",
                },
            }
            for name, priority, direction, access, src, dst in DEFAULT_RULES
        ]
        return put_provisioned(self.world, call, resource, self.render_nsg)

    def put_rule(self, call: Call) -> Reply:
        require_parent(self.world, call)
        nsg_id = call.path.item_id.rsplit("/", 2)[0]
        rule = self._store_rule(nsg_id, call.path.names[-1], call.properties())
        return put_provisioned(self.world, call, rule)

    def _store_rule(self, nsg_id: str, name: str, props: dict) -> dict:
        check_name(name, "security rule")
        where = f"Security rule {name}"
        priority = props.get("priority")
        fail_unless(
            isinstance(priority, int) and 100 <= priority <= 4096,
            400,
            "SecurityRuleInvalidPriority",
            f"{where} has invalid priority {priority!r}: it must be an integer from 100 to 4096.",
        )
        for field, allowed in (
            ("access", {"Allow", "Deny"}),
            ("direction", {"Inbound", "Outbound"}),
            ("protocol", PROTOCOLS),
        ):
            fail_unless(
                props.get(field) in allowed,
                400,
                "SecurityRuleParameterContainsUnsupportedValue",
                f"{where} has invalid {field} {props.get(field)!r}: expected one of {sorted(allowed)}.",
            )
        fail_unless(
            bool(props.get("sourceAddressPrefix") or props.get("sourceAddressPrefixes")),
            400,
            "SecurityRuleInvalidAddressPrefix",
            f"{where} needs sourceAddressPrefix or sourceAddressPrefixes.",
        )
        for field in ("sourceAddressPrefixes", "destinationAddressPrefixes"):
            # Learn, "Network security groups: security rules": a service tag is one prefix (the message is ARM's own).
            tag = next((p for p in props.get(field) or [] if not _is_address(p)), None)
            fail_unless(
                tag is None,
                400,
                "SecurityRuleParameterContainsUnsupportedValue",
                f"Security rule parameter {field[0].upper()}{field[1:]} for rule with Id {nsg_id}/securityRules/{name} "
                "cannot specify existing VIRTUALNETWORK, INTERNET, AZURELOADBALANCER, '*' or system tags. "
                f"Unsupported value used: {tag}.",
            )
        fail_unless(
            bool(props.get("destinationPortRange") or props.get("destinationPortRanges")),
            400,
            "SecurityRuleInvalidPortRange",
            f"{where} needs destinationPortRange or destinationPortRanges.",
        )
        rule_id = f"{nsg_id}/securityRules/{name}"
        for other in self.world.store.children(nsg_id, "securityRules"):
            same_slot = (
                other["properties"]["priority"] == priority and other["properties"]["direction"] == props["direction"]
            )
            fail_unless(
                other["id"].lower() == rule_id.lower() or not same_slot,
                400,
                "SecurityRuleConflict",
                f"{where} has the same priority and direction as rule {other['name']}.",
            )
        rule = {
            "id": rule_id,
            "name": name,
            "type": f"{NS}/networkSecurityGroups/securityRules",
            "properties": {**props, "provisioningState": "Succeeded"},
        }
        return self.world.store.put(rule)

    def render_nsg(self, nsg: dict) -> dict:
        out = copy.deepcopy(nsg)
        out["properties"]["securityRules"] = self.world.store.children(nsg["id"], "securityRules")
        out["properties"]["networkInterfaces"] = [
            {"id": nic["id"]}
            for nic in self.world.store.of_type(f"{NS}/networkInterfaces")
            if (reference(nic["properties"], "networkSecurityGroup") or "").lower() == nsg["id"].lower()
        ]
        return out

    def delete_nsg(self, call: Call) -> Reply:
        nsg = self.world.store.get(call.path.item_id)
        if nsg is not None and self.render_nsg(nsg)["properties"]["networkInterfaces"]:
            raise bad_request(
                "InUseNetworkSecurityGroupCannotBeDeleted",
                f"Network security group {nsg['id']} cannot be deleted because it is in use by a network interface.",
            )
        return delete_with_lro(
            self.world,
            call,
            lambda r: [self.world.store.delete(x["id"]) for x in self.world.store.children(r["id"], "securityRules")],
        )

    def list_all(self, call: Call, arm_type: str, render: Any = lambda r: r) -> Reply:
        """Subscription-wide list: every resource of the type, across resource groups."""
        return list_items(self.world, call, list(self.world.store.of_type(arm_type)), render)


def register(router: Router, world: World) -> Network:
    net = Network(world)
    w = world
    for kind, path, method, handler in [
        (ITEM, "virtualNetworks", "PUT", net.put_vnet),
        (ITEM, "virtualNetworks", "GET", lambda c: get_item(w, c, net.render_vnet)),
        (ITEM, "virtualNetworks", "DELETE", lambda c: delete_with_lro(w, c)),
        (COLLECTION, "virtualNetworks", "GET", lambda c: list_children(w, c, net.render_vnet)),
        (COLLECTION, "virtualNetworks/usages", "GET", net.list_usage),
        (ITEM, "virtualNetworks/subnets", "PUT", net.put_subnet),
        (ITEM, "virtualNetworks/subnets", "GET", lambda c: get_item(w, c)),
        (COLLECTION, "virtualNetworks/subnets", "GET", lambda c: list_children(w, c)),
        (ITEM, "virtualNetworks/virtualNetworkPeerings", "PUT", net.put_peering),
        (ITEM, "virtualNetworks/virtualNetworkPeerings", "GET", lambda c: get_item(w, c, net.render_peering)),
        (ITEM, "virtualNetworks/virtualNetworkPeerings", "DELETE", lambda c: delete_with_lro(w, c)),
        (
            COLLECTION,
            "virtualNetworks/virtualNetworkPeerings",
            "GET",
            lambda c: list_children(w, c, net.render_peering),
        ),
        (ITEM, "networkInterfaces", "PUT", net.put_nic),
        (ITEM, "networkInterfaces", "GET", lambda c: get_item(w, c)),
        (ITEM, "networkInterfaces", "DELETE", net.delete_nic),
        (
            COLLECTION,
            "networkInterfaces",
            "GET",
            lambda c: list_children(w, c) if c.path.resource_group else net.list_all(c, f"{NS}/networkInterfaces"),
        ),
        (ITEM, "networkSecurityGroups", "PUT", net.put_nsg),
        (ITEM, "networkSecurityGroups", "GET", lambda c: get_item(w, c, net.render_nsg)),
        (ITEM, "networkSecurityGroups", "DELETE", net.delete_nsg),
        (
            COLLECTION,
            "networkSecurityGroups",
            "GET",
            lambda c: (
                list_children(w, c, net.render_nsg)
                if c.path.resource_group
                else net.list_all(c, f"{NS}/networkSecurityGroups", net.render_nsg)
            ),
        ),
        (ITEM, "networkSecurityGroups/securityRules", "PUT", net.put_rule),
        (ITEM, "networkSecurityGroups/securityRules", "GET", lambda c: get_item(w, c)),
        (ITEM, "networkSecurityGroups/securityRules", "DELETE", lambda c: delete_with_lro(w, c)),
        (COLLECTION, "networkSecurityGroups/securityRules", "GET", lambda c: list_children(w, c)),
    ]:
        router.add(method, kind, f"{NS}/{path}", handler, API)
    return net
