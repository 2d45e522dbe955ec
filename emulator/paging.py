"""ARM paging: `{"value": [...], "nextLink": ...}` with an absolute next link and a skip token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from wavelift.emulator.errors import bad_request


def page(
    items: list[Any],
    *,
    base_url: str,
    path: str,
    query: dict[str, str],
    page_size: int,
    render: Callable[[Any], Any] = lambda x: x,
) -> dict:
    """One page of `items`, starting at the `$skiptoken` the query carries; only that page is rendered."""
    token = query.get("$skiptoken", "0")
    if not token.isdigit():
        raise bad_request("InvalidSkipToken", f"The skip token '{token}' is not valid.")
    start = int(token)
    body: dict[str, Any] = {"value": [render(item) for item in items[start : start + page_size]]}
    if start + page_size < len(items):
        next_query = {k: v for k, v in query.items() if k != "$skiptoken"} | {"$skiptoken": str(start + page_size)}
        body["nextLink"] = f"{base_url}{path}?{urlencode(next_query)}"
    return body
