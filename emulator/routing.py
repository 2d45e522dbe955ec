"""Parse ARM request paths and dispatch them to provider handlers.

An ARM path is a scope (`/subscriptions/{s}[/resourceGroups/{rg}]`), a provider namespace, then
alternating type/name segments. An even number of segments after the namespace names an item, an
odd number a collection (GET) or an action on an item (POST). Handlers register by method, kind and
a type path such as `Microsoft.Compute/virtualMachines/extensions`; lookups ignore case, as ARM does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wavelift.emulator.errors import ArmError

ITEM, COLLECTION, ACTION = "item", "collection", "action"
RESOURCES = "Microsoft.Resources"


@dataclass(frozen=True)
class ArmPath:
    """A parsed ARM path: scope, provider namespace, (type, name) pairs and an optional trailing word."""

    subscription: str
    resource_group: str | None
    namespace: str
    pairs: tuple[tuple[str, str], ...]
    tail: str | None  # a collection's type or an action's name

    @property
    def type_path(self) -> str:
        return "/".join([self.namespace, *(t for t, _ in self.pairs)])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for _, n in self.pairs)

    @property
    def scope(self) -> str:
        if self.resource_group is None:
            return f"/subscriptions/{self.subscription}"
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"

    @property
    def item_id(self) -> str:
        """Canonical ARM id of the item the path names (or owns the collection or action)."""
        parts = "".join(f"/{t}/{n}" for t, n in self.pairs)
        return f"{self.scope}/providers/{self.namespace}{parts}"


def parse(path: str) -> ArmPath | None:
    """Parse an ARM path, or None if it is not one."""
    segs = [s for s in path.split("/") if s]
    if len(segs) < 3 or segs[0].lower() != "subscriptions":
        return None
    sub, rest = segs[1], segs[2:]
    rg = None
    if len(rest) >= 2 and rest[0].lower() == "resourcegroups":
        rg, rest = rest[1], rest[2:]
    if rg is not None and not rest:  # a resource group itself: ARM's own Microsoft.Resources type
        return ArmPath(sub, None, RESOURCES, (("resourceGroups", rg),), None)
    if rg is None and [r.lower() for r in rest] == ["providers"]:  # the subscription's providers (Providers_List)
        return ArmPath(sub, None, RESOURCES, (), "providers")
    if len(rest) < 2 or rest[0].lower() != "providers":
        return None
    ns, rest = rest[1], rest[2:]
    if rg is None and (not rest or [r.lower() for r in rest] == ["register"]):  # a provider's registration
        return ArmPath(sub, None, RESOURCES, (("providers", ns),), rest[0] if rest else None)
    if not rest:
        return None
    pairs = tuple((rest[i], rest[i + 1]) for i in range(0, len(rest) - 1, 2))
    tail = rest[-1] if len(rest) % 2 else None
    return ArmPath(sub, rg, ns, pairs, tail)


@dataclass
class Call:
    """One request as a handler sees it."""

    method: str
    path: ArmPath
    query: dict[str, str]
    body: Any
    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    raw_path: str = ""
    injected_error: dict | None = None  # a fault rule's error for the LRO this call starts
    injected_outcome: str | None = None  # a fault rule's in-between outcome (CompletedWithInformation, ...)

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")

    def require_body(self) -> dict:
        if not isinstance(self.body, dict):
            raise ArmError(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            )
        return self.body

    def properties(self) -> dict:
        props = self.require_body().get("properties")
        if not isinstance(props, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content must have an object 'properties'.")
        return props


@dataclass
class Reply:
    """What a handler answers: status, JSON body (or None) and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Reply]


class Router:
    """Maps (method, kind, type path, action) to a handler and an api-version set."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str, str, str], tuple[Handler, frozenset[str]]] = {}
        self._served: dict[str, dict[str, set[str]]] = {}

    def add(
        self, method: str, kind: str, type_path: str, handler: Handler, api_versions: set[str], action: str = ""
    ) -> None:
        key = (method.upper(), kind, type_path.lower(), action.lower())
        self._routes[key] = (handler, frozenset(api_versions))
        namespace, _, resource_type = type_path.partition("/")
        self._served.setdefault(namespace, {}).setdefault(resource_type, set()).update(api_versions)

    def served(self) -> dict[str, dict[str, set[str]]]:
        """The resource types each namespace serves, with their api-versions (what Providers_Get lists)."""
        return self._served

    def resolve(self, method: str, path: ArmPath) -> tuple[Handler, frozenset[str], str] | None:
        """The handler, its api-versions and the kind (item, collection or action) of the request."""
        method = method.upper()
        keys = (
            [(method, ITEM, path.type_path.lower(), "")]
            if path.tail is None
            else [
                (method, ACTION, path.type_path.lower(), path.tail.lower()),
                (method, COLLECTION, f"{path.type_path}/{path.tail}".lower(), ""),
            ]
        )
        for key in keys:
            if key in self._routes:
                handler, versions = self._routes[key]
                return handler, versions, key[1]
        return None
