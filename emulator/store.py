"""A case-insensitive store of ARM resources by id, with ordered child listing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wavelift.emulator.errors import not_found


class Store:
    """Resources as ARM JSON dicts, keyed by lower-cased id, kept in creation order."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any]] = {}

    def get(self, resource_id: str) -> dict[str, Any] | None:
        return self._items.get(resource_id.lower())

    def require(self, resource_id: str) -> dict[str, Any]:
        item = self.get(resource_id)
        if item is None:
            raise not_found(resource_id)
        return item

    def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        self._items[resource["id"].lower()] = resource
        return resource

    def delete(self, resource_id: str) -> dict[str, Any] | None:
        return self._items.pop(resource_id.lower(), None)

    def children(self, parent_id: str, type_name: str) -> list[dict[str, Any]]:
        """Direct children of `parent_id` in its `type_name` collection."""
        prefix = f"{parent_id.lower()}/{type_name.lower()}/"
        return [r for key, r in self._items.items() if key.startswith(prefix) and "/" not in key[len(prefix) :]]

    def of_type(self, arm_type: str) -> Iterator[dict[str, Any]]:
        wanted = arm_type.lower()
        return (r for r in self._items.values() if r.get("type", "").lower() == wanted)

    def export(self) -> list[dict[str, Any]]:
        return list(self._items.values())
