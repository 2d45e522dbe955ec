"""The emulator's resource store answers lists as ARM does (direct children, creation order, ids without regard to
case) through the indexes it keeps on each write: a resource written again, retyped or deleted is listed where it
now belongs and nowhere else."""

from __future__ import annotations

from collections.abc import Iterable

from wavelift.emulator.store import Store

RG = "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network"
NSG_TYPE = "Microsoft.Network/networkSecurityGroups"
RULE_TYPE = f"{NSG_TYPE}/securityRules"


def _put(store: Store, resource_id: str, type_: str, **properties: object) -> dict:
    return store.put({"id": resource_id, "name": resource_id.rsplit("/", 1)[1], "type": type_, **properties})


def _names(resources: Iterable[dict]) -> list[str]:
    return [r["name"] for r in resources]


def test_children_are_direct_in_creation_order_and_ignore_case() -> None:
    store = Store()
    nsg = _put(store, f"{RG}/networkSecurityGroups/web-nsg", NSG_TYPE)
    _put(store, f"{RG}/networkSecurityGroups/web-nsg/securityRules/b-rule", RULE_TYPE)
    _put(store, f"{RG}/networkSecurityGroups/WEB-NSG/securityRules/a-rule", RULE_TYPE)
    _put(store, f"{RG}/networkSecurityGroups/web-nsg/securityRules/a-rule/deeper/x", "Other/type")
    _put(store, f"{RG}/networkSecurityGroups/web-nsg-2/securityRules/c-rule", RULE_TYPE)

    assert _names(store.children(nsg["id"].upper(), "SECURITYRULES")) == ["b-rule", "a-rule"]
    assert _names(store.children(f"{RG}/networkSecurityGroups/db-nsg", "securityRules")) == []
    assert _names(store.of_type(RULE_TYPE.upper())) == ["b-rule", "a-rule", "c-rule"]


def test_a_resource_written_again_keeps_its_place_and_a_deleted_one_is_gone_from_every_list() -> None:
    store = Store()
    first = _put(store, f"{RG}/networkSecurityGroups/one", NSG_TYPE)
    _put(store, f"{RG}/networkSecurityGroups/two", NSG_TYPE)
    _put(store, first["id"].upper(), NSG_TYPE, tags={"v": "2"})

    assert _names(store.of_type(NSG_TYPE)) == ["ONE", "two"]
    assert store.children(RG, "networkSecurityGroups")[0]["tags"] == {"v": "2"}

    _put(store, f"{RG}/networkSecurityGroups/two", "Microsoft.Network/applicationSecurityGroups")
    assert _names(store.of_type(NSG_TYPE)) == ["ONE"]
    assert _names(store.of_type("Microsoft.Network/applicationSecurityGroups")) == ["two"]

    store.delete(first["id"])
    assert store.get(first["id"]) is None
    assert _names(store.of_type(NSG_TYPE)) == []
    assert _names(store.children(RG, "networkSecurityGroups")) == ["two"]
    assert store.delete(first["id"]) is None
