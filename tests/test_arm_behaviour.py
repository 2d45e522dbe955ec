"""What ARM does around every call, reproduced by the emulator: authentication, api-version checks,
error shapes, throttling with Retry-After, transient faults and latency; and the SDK coping with them."""

from __future__ import annotations

import ssl
import time

import httpx
import pytest
from azure.core.exceptions import HttpResponseError

from tests.conftest import Emulated


def _vault_path(emu: Emulated) -> str:
    c = emu.connection
    rg_id = f"/subscriptions/{c['subscription_id']}/resourceGroups/{c['resource_group']}"
    return f"{rg_id}/providers/Microsoft.RecoveryServices/vaults/{c['vault']}"


def _token(emu: Emulated, scope: str = "https://management.azure.com/.default") -> str:
    """An access token from the emulator's Entra ID endpoint, signed in as the SDK clients are."""
    return emu.target.credentials.get_credential(emu.connection["ca_cert"]).get_token(scope).token


def _raw(emu: Emulated, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {_token(emu)}"} | kwargs.pop("headers", {})
    return httpx.request(
        method,
        emu.connection["base_url"] + path,
        verify=ssl.create_default_context(cafile=emu.connection["ca_cert"]),
        headers=headers,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("Bearer made-up", "InvalidAuthenticationToken"),  # not issued by the emulator's Entra ID
        ("usgov", "InvalidAuthenticationTokenAudience"),  # a US Government token shown to public ARM
        ("Basic dXNlcjpwYXNz", "AuthenticationFailed"),
    ],
)
def test_arm_refuses_a_token_it_did_not_issue_or_for_another_audience(
    emu: Emulated, authorization: str, code: str
) -> None:
    if authorization == "usgov":
        authorization = f"Bearer {_token(emu, 'https://management.core.usgovcloudapi.net/.default')}"
    response = _raw(
        emu,
        "GET",
        f"{_vault_path(emu)}/replicationFabrics",
        params={"api-version": "2025-08-01"},
        headers={"Authorization": authorization},
    )
    assert response.status_code == 401 and response.json()["error"]["code"] == code


def test_an_expired_token_is_refused(emu: Emulated) -> None:
    token = emu.thread.emulator.tokens.issue("https://management.azure.com/.default", lifetime=0)
    response = _raw(
        emu,
        "GET",
        f"{_vault_path(emu)}/replicationFabrics",
        params={"api-version": "2025-08-01"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401 and response.json()["error"]["code"] == "ExpiredAuthenticationToken"


@pytest.mark.parametrize(
    ("method", "path", "params", "headers", "status", "code"),
    [
        (
            "GET",
            "{vault}/replicationFabrics",
            {"api-version": "2025-08-01"},
            {"Authorization": ""},
            401,
            "AuthenticationFailed",
        ),
        ("GET", "{vault}/replicationFabrics", {}, {}, 400, "MissingApiVersionParameter"),
        ("GET", "{vault}/replicationFabrics/nope", {"api-version": "2025-08-01"}, {}, 404, "ResourceNotFound"),
        ("GET", "{vault}/replicationGizmos", {"api-version": "2025-08-01"}, {}, 404, "InvalidResourceType"),
        ("POST", "{vault}/replicationFabrics/f/explode", {"api-version": "2025-08-01"}, {}, 405, "MethodNotAllowed"),
        ("GET", "/subscriptions/x/nothing", {}, {}, 404, "InvalidResourceNamespace"),
    ],
)
def test_refusals_have_arms_error_shape(
    emu: Emulated, method: str, path: str, params: dict, headers: dict, status: int, code: str
) -> None:
    response = _raw(emu, method, path.format(vault=_vault_path(emu)), params=params, headers=headers)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    assert response.headers["x-ms-request-id"]


def test_a_malformed_body_is_refused_and_changes_nothing(emu: Emulated) -> None:
    c = emu.connection
    rg_id = f"/subscriptions/{c['subscription_id']}/resourceGroups/{c['target_resource_group']}"
    path = f"{rg_id}/providers/Microsoft.Network/networkSecurityGroups/nsg"
    response = _raw(
        emu,
        "PUT",
        path,
        params={"api-version": "2026-03-01"},
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "InvalidRequestContent")
    assert _raw(emu, "GET", path, params={"api-version": "2026-03-01"}).status_code == 404


def test_the_sdk_recovers_from_429_honouring_retry_after(emu: Emulated) -> None:
    emu.admin.add_fault(
        method="GET",
        path="/replicationFabrics$",
        status=429,
        code="SubscriptionRequestsThrottled",
        headers={"Retry-After": "1"},
        count=2,
    )
    started = time.monotonic()
    fabrics = list(emu.target.site_recovery_client().replication_fabrics.list(emu.rg, emu.vault))
    assert [f.name for f in fabrics] == [emu.connection["fabric"]]
    assert time.monotonic() - started >= 2.0  # two waits of Retry-After: 1
    assert (
        emu.admin.state()["stats"]["requests"]["LIST Microsoft.RecoveryServices/vaults/replicationFabrics"] == 1
    )  # served once, after two 429s


def test_the_sdk_recovers_from_503(emu: Emulated) -> None:
    emu.admin.add_fault(method="GET", path="/replicationPolicies/", status=503, code="ServiceUnavailable", count=2)
    policy = emu.target.site_recovery_client().replication_policies.get(
        emu.rg, emu.vault, emu.connection["policy_id"].rsplit("/", 1)[1]
    )
    assert policy.id == emu.connection["policy_id"]


def test_a_persistent_500_surfaces_after_the_sdks_retries(emu: Emulated) -> None:
    emu.admin.add_fault(
        method="GET", path="/replicationPolicies/", status=500, code="InternalServerError", message="boom"
    )
    with pytest.raises(HttpResponseError) as excinfo:
        emu.target.site_recovery_client().replication_policies.get(emu.rg, emu.vault, "any")
    assert excinfo.value.status_code == 500 and excinfo.value.error.code == "InternalServerError"
    assert [f["fired"] for f in emu.admin.faults()] == [4]


def test_a_burst_is_throttled_with_integer_retry_after(emu: Emulated) -> None:
    emu.admin.set_throttle(
        read={"burst": 5, "per_second": 2},
        write={"burst": 200, "per_second": 10},
        delete={"burst": 200, "per_second": 10},
    )
    path = f"{_vault_path(emu)}/replicationFabrics"
    statuses = []
    for _ in range(10):
        response = _raw(emu, "GET", path, params={"api-version": "2025-08-01"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.headers["Retry-After"].isdigit() and int(response.headers["Retry-After"]) >= 1
            assert response.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
            assert response.json()["error"]["code"] == "SubscriptionRequestsThrottled"
        else:
            assert int(response.headers["x-ms-ratelimit-remaining-subscription-reads"]) >= 0
    assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
    assert emu.admin.stats()["throttled"] >= 1
    # the SDK waits out the throttle and gets its answer
    assert len(list(emu.target.site_recovery_client().replication_fabrics.list(emu.rg, emu.vault))) == 1


def test_writes_and_reads_have_separate_buckets(emu: Emulated) -> None:
    emu.admin.set_throttle(
        read={"burst": 250, "per_second": 25},
        write={"burst": 1, "per_second": 0.01},
        delete={"burst": 200, "per_second": 10},
    )
    c = emu.connection
    rg_id = f"/subscriptions/{c['subscription_id']}/resourceGroups/{c['target_resource_group']}"
    path = f"{rg_id}/providers/Microsoft.Network/networkSecurityGroups/n"
    body = {"location": "westeurope", "properties": {}}
    assert _raw(emu, "PUT", path, params={"api-version": "2026-03-01"}, json=body).status_code == 201
    assert _raw(emu, "PUT", path, params={"api-version": "2026-03-01"}, json=body).status_code == 429
    assert _raw(emu, "GET", path, params={"api-version": "2026-03-01"}).status_code == 200


def test_injected_latency_delays_the_answer(emu: Emulated) -> None:
    emu.admin.add_fault(method="GET", path="/replicationFabrics$", latency_ms=400, count=1)
    started = time.monotonic()
    _raw(emu, "GET", f"{_vault_path(emu)}/replicationFabrics", params={"api-version": "2025-08-01"})
    assert time.monotonic() - started >= 0.4


def test_a_fault_rule_needs_an_effect(emu: Emulated) -> None:
    response = httpx.post(
        emu.connection["base_url"] + "/_emulator/faults",
        json={"path": "x"},
        verify=ssl.create_default_context(cafile=emu.connection["ca_cert"]),
    )
    assert (
        response.status_code == 400
        and "status, lro_error, lro_outcome or latency_ms" in response.json()["error"]["message"]
    )


def test_lro_answers_carry_arm_headers(emu: Emulated) -> None:
    c = emu.connection
    rg_id = f"/subscriptions/{c['subscription_id']}/resourceGroups/{c['target_resource_group']}"
    path = f"{rg_id}/providers/Microsoft.Network/networkSecurityGroups/hdr"
    response = _raw(
        emu, "PUT", path, params={"api-version": "2026-03-01"}, json={"location": "westeurope", "properties": {}}
    )
    assert response.status_code == 201 and response.json()["properties"]["provisioningState"] == "Creating"
    assert (
        response.headers["Azure-AsyncOperation"].startswith("https://127.0.0.1:")
        and response.headers["Retry-After"] == "0"
    )
    status = _raw(emu, "GET", response.headers["Azure-AsyncOperation"].split(c["base_url"], 1)[1])
    assert status.json()["status"] in ("InProgress", "Succeeded") and set(status.json()) >= {
        "id",
        "name",
        "status",
        "startTime",
    }
    emu.admin.skip(60)
    assert (
        _raw(emu, "GET", response.headers["Azure-AsyncOperation"].split(c["base_url"], 1)[1]).json()["status"]
        == "Succeeded"
    )
    assert (
        _raw(emu, "GET", path, params={"api-version": "2026-03-01"}).json()["properties"]["provisioningState"]
        == "Succeeded"
    )


@pytest.mark.parametrize(
    ("path", "api_version", "body"),
    [
        ("/resourceGroups/rg-nowhere", "2025-04-01", {}),
        ("/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults/v-nowhere", "2025-02-01", {}),
        (
            "/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/kv-nowhere",
            "2024-11-01",
            {"properties": {"tenantId": "t", "sku": {"family": "A", "name": "standard"}}},
        ),
        (
            "/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/nowhere1",
            "2025-06-01",
            {"sku": {"name": "Standard_LRS"}, "kind": "StorageV2"},
        ),
    ],
)
def test_a_resource_without_a_location_is_refused(emu: Emulated, path: str, api_version: str, body: dict) -> None:
    """Learn, "Troubleshoot common Azure deployment errors": `LocationRequired` ("Provide a location")."""
    scope = f"/subscriptions/{emu.connection['subscription_id']}" + path.format(rg=emu.rg)
    response = _raw(emu, "PUT", scope, params={"api-version": api_version}, json=body)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "LocationRequired")
