"""Raw ARM reads for the APIs that have no Python SDK (Microsoft.Migrate, Microsoft.OffAzure), and for
the vault lists that are too many items to build SDK models of.

`azure-mgmt-offazure` and `azure-mgmt-migrate` on PyPI are empty placeholders, so these reads go
through the Site Recovery client's `send_request`, which reuses its ARM pipeline: the same
credential, endpoint, CA bundle, retries and throttling behaviour as every other call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient


def get_json(client: SiteRecoveryManagementClient, path_or_url: str, api_version: str | None = None) -> dict[str, Any]:
    """GET one ARM resource (a path, or an absolute next link) and return its JSON."""
    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest
    from azure.mgmt.core.exceptions import ARMErrorFormat

    params = {"api-version": api_version} if api_version else None
    response = client.send_request(HttpRequest("GET", path_or_url, params=params))
    if response.status_code != 200:
        raise HttpResponseError(response=response, error_format=ARMErrorFormat)
    return response.json()


def sdk_api_version(client: SiteRecoveryManagementClient) -> str:
    """The api-version the client's own operations send (every generated ARM client keeps it in its
    configuration), so a raw read of the same resources asks the same API."""
    return client._config.api_version


def list_pages(client: SiteRecoveryManagementClient, path: str, api_version: str) -> Iterator[list[dict[str, Any]]]:
    """An ARM collection page by page, following `nextLink`."""
    page = get_json(client, path, api_version)
    yield page.get("value", [])
    while page.get("nextLink"):
        page = get_json(client, page["nextLink"])
        yield page.get("value", [])


def list_json(client: SiteRecoveryManagementClient, path: str, api_version: str) -> Iterator[dict[str, Any]]:
    """Every item of an ARM collection."""
    for page in list_pages(client, path, api_version):
        yield from page
