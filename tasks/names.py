"""Names that become paths, URLs or resource ids, and the rules they must pass first (DESIGN rule 8).

A name is never a path: a server's name reaches a datastore folder, a backup catalog URL and the
as-built docs, and an Azure name reaches resource ids. Each rule here says why a name is refused (or
None), so a plan, a block and an adapter all refuse the same names with the same words.
"""

from __future__ import annotations

import re

_AZ_MIGRATE_VM_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?$")
_ENCODED = re.compile(r"%[0-9a-fA-F]{2}")
_SUBNET = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$")
_RESOURCE_NAME = r"[^/\s]+"
VNET_ID = re.compile(
    rf"^/subscriptions/{_RESOURCE_NAME}/resourceGroups/{_RESOURCE_NAME}"
    rf"/providers/Microsoft\.Network/virtualNetworks/(?P<name>{_RESOURCE_NAME})$",
    re.IGNORECASE,
)
MAX_SEGMENT = 255
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"  # plans and waves: run names, tags, artifact keys
BLOCK_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,99}$"  # Prefect block document names: lower-case letters, digits, dashes


def vm_name_problem(name: str) -> str | None:
    """Why `name` cannot name the Azure VM of a migration, or None.

    Az.Migrate's rule (`New-AzMigrateServerReplication.ps1`): 1–64 characters, letters, digits and hyphens
    only, beginning with a letter or digit and not ending with a hyphen (its pattern
    `^[^_\\W][a-zA-Z0-9\\-]{0,63}(?<![-._])$`); wavelift also refuses a name of digits only, which Windows
    cannot take as a computer name."""
    if not 1 <= len(name) <= 64:
        return f"must be 1 to 64 characters long (it has {len(name)})"
    if not _AZ_MIGRATE_VM_NAME.match(name):
        return "must be letters, digits and hyphens (-), beginning with a letter or digit and not ending with '-'"
    if name.isdigit():
        return "must not be only digits"
    return None


def azure_vm_name(display_name: str) -> str:
    """A valid target VM name for a server (see `vm_name_problem`): every other character becomes a hyphen
    (`SQL_PROD.01` -> `SQL-PROD-01`); the plan shows it and an operator may choose another."""
    name = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9-]", "-", display_name)).strip("-")[:64].rstrip("-")
    return name if name and not name.isdigit() else f"vm-{name}".rstrip("-")[:64]


def segment_problem(name: str) -> str | None:
    """Why `name` cannot stand as one segment of a path or URL (a server's folder, its catalog entry), or None.

    Refused: empty or over 255 characters, '.' and '..', path separators, URL-encoded characters
    (`%2F` decodes to a separator on the far side), control characters and leading or trailing spaces."""
    if not name:
        return "is empty"
    if len(name) > MAX_SEGMENT:
        return f"is {len(name)} characters long (at most {MAX_SEGMENT})"
    if name in (".", ".."):
        return f"'{name}' names a folder relative to another"
    if "/" in name or "\\" in name:
        return "contains a path separator ('/' or '\\')"
    if _ENCODED.search(name):
        return "contains a URL-encoded character (%XX)"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "contains a control character"
    if name != name.strip():
        return "starts or ends with whitespace"
    return None


def subnet_name_problem(name: str) -> str | None:
    """Why `name` cannot name a subnet (Microsoft.Network naming rules: 1–80 characters, letters, digits,
    '_', '.', '-', starting with a letter or digit and ending with a letter, digit or '_'), or None."""
    return (
        None
        if _SUBNET.match(name)
        else "must be 1–80 letters, digits, '_', '.' or '-', start with a letter or digit and end with one or '_'"
    )


def vnet_id_problem(resource_id: str) -> str | None:
    """Why `resource_id` is not the ARM id of a virtual network (not a subnet, not another resource), or None."""
    if VNET_ID.match(resource_id):
        return None
    return (
        "must be a virtual network's resource id: "
        "/subscriptions/…/resourceGroups/…/providers/Microsoft.Network/virtualNetworks/NAME"
    )


def same_resource(a: str, b: str) -> bool:
    """ARM ids compare without regard to case (Azure resource ids are case-insensitive)."""
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def within(child: str, parent: str) -> bool:
    """Whether the resource id `child` is `parent` or lies under it (a subnet of a VNet)."""
    return same_resource(child, parent) or child.lower().startswith(parent.rstrip("/").lower() + "/")
