"""What every provider does the same way: resource shells, names, reads, lists, creates and deletes."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable
from typing import Any

from wavelift.emulator.errors import ArmError, bad_request
from wavelift.emulator.paging import page
from wavelift.emulator.routing import Call, Reply
from wavelift.emulator.world import World

_MIGRATION_VM_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?$")
# Azure's resource naming rules (Microsoft.Network names; VM names are stricter, see vm_name_problem)
_GENERIC_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$")
_VM_FORBIDDEN = set("\\/\"[]:|<>+=;,?*@&~!#$%^(){}'")


def migration_vm_name_problem(name: str) -> str | None:
    """Why `name` cannot be a migration's target VM name (Az.Migrate, `New-AzMigrateServerReplication.ps1`:
    `^[^_\\W][a-zA-Z0-9\\-]{0,63}(?<![-._])$`: letters, digits and hyphens), or None."""
    if _MIGRATION_VM_NAME.match(name):
        return None
    return "must be 1-64 letters, digits or hyphens, beginning with a letter or digit and not ending with '-'"


def vm_name_problem(name: str) -> str | None:
    """Why `name` is not a valid Azure VM name, or None if it is (1–64 characters, no special ones)."""
    if not 1 <= len(name) <= 64:
        return "must be 1 to 64 characters long"
    if any(c in _VM_FORBIDDEN or c.isspace() for c in name):
        return "must not contain whitespace or any of \\/\"[]:|<>+=;,?*@&~!#$%^(){}'"
    if name.startswith("_") or name.endswith((".", "-")):
        return "must not start with '_' or end with '.' or '-'"
    return None


def check_name(name: str, kind: str, problem: Callable[[str], str | None] | None = None) -> None:
    reason = (
        problem(name)
        if problem
        else (
            None
            if _GENERIC_NAME.match(name)
            else "must be 1 to 80 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    )
    if reason:
        raise bad_request("InvalidResourceName", f"The {kind} name '{name}' is invalid: it {reason}.")


def shell(
    call: Call,
    resource_type: str,
    *,
    location: str | None = None,
    tags: dict | None = None,
    properties: dict | None = None,
) -> dict[str, Any]:
    """A new resource's outer fields, named by the call's path."""
    body = call.body if isinstance(call.body, dict) else {}
    resource: dict[str, Any] = {"id": call.path.item_id, "name": call.path.names[-1], "type": resource_type}
    loc = location or body.get("location")
    if loc:
        resource["location"] = loc
    if tags is not None or "tags" in body:
        resource["tags"] = tags if tags is not None else body.get("tags") or {}
    resource["properties"] = properties if properties is not None else copy.deepcopy(body.get("properties") or {})
    return resource


def get_item(world: World, call: Call, render: Callable[[dict], dict] = lambda r: r) -> Reply:
    return Reply(200, render(world.store.require(call.path.item_id)))


def list_items(world: World, call: Call, items: list[dict], render: Callable[[dict], dict] = lambda r: r) -> Reply:
    if call.query.get("$filter"):
        raise bad_request("InvalidFilter", "The emulator does not support $filter on this collection.")
    return Reply(
        200,
        page(
            items,
            base_url=call.base_url,
            path=call.raw_path,
            query=call.query,
            page_size=world.config.page_size,
            render=render,
        ),
    )


def filtered(call: Call) -> Call:
    """The call without its `$filter`, for a handler that has applied the filter itself before listing."""
    return dataclasses.replace(call, query={k: v for k, v in call.query.items() if k != "$filter"})


def list_children(world: World, call: Call, render: Callable[[dict], dict] = lambda r: r) -> Reply:
    if call.path.pairs:
        world.store.require(call.path.item_id)
    parent = call.path.item_id if call.path.pairs else f"{call.path.scope}/providers/{call.path.namespace}"
    return list_items(world, call, world.store.children(parent, call.path.tail or ""), render)


def require_parent(world: World, call: Call) -> None:
    """A child resource needs its parent: ARM answers 404 naming the parent otherwise."""
    if len(call.path.pairs) > 1:
        parent_id = call.path.item_id.rsplit("/", 2)[0]
        world.store.require(parent_id)


def put_provisioned(
    world: World, call: Call, resource: dict[str, Any], render: Callable[[dict], dict] = lambda r: r
) -> Reply:
    """Create or update as Compute and Network do: 201 (200 if it existed), `provisioningState`
    Creating/Updating, Azure-AsyncOperation; the state becomes Succeeded when the LRO ends."""
    existed = world.store.get(resource["id"]) is not None
    resource["properties"]["provisioningState"] = "Updating" if existed else "Creating"
    world.store.put(resource)

    def complete(_: float) -> None:
        current = world.store.get(resource["id"])
        if current is not None:
            current["properties"]["provisioningState"] = "Succeeded"

    def fail(_: float, error: dict) -> None:
        current = world.store.get(resource["id"])
        if current is not None:
            current["properties"]["provisioningState"] = "Failed"

    return world.lro(
        call,
        duration=world.config.capacity.arm_seconds,
        complete=complete,
        fail=fail,
        result=lambda: (200, render(world.store.require(resource["id"]))),
        status=200 if existed else 201,
        body=render(resource),
    )


def delete_with_lro(world: World, call: Call, on_delete: Callable[[dict], None] = lambda r: None) -> Reply:
    """DELETE as ARM does: 202 with monitors when the resource exists, 204 when it does not."""
    resource = world.store.get(call.path.item_id)
    if resource is None:
        return Reply(204)

    def complete(_: float) -> None:
        if world.store.delete(resource["id"]) is not None:
            on_delete(resource)

    return world.lro(call, duration=world.config.capacity.arm_seconds, complete=complete, result=lambda: (204, None))


def reference(obj: Any, field: str) -> str | None:
    """The `id` of a sub-resource reference such as `{"subnet": {"id": ...}}`, if present."""
    value = obj.get(field) if isinstance(obj, dict) else None
    return value.get("id") if isinstance(value, dict) else None


def fail_unless(condition: bool, status: int, code: str, message: str) -> None:
    if not condition:
        raise ArmError(status, code, message)
