"""A minimal Microsoft Entra ID token endpoint, so `azure-identity`'s ClientSecretCredential works
against the emulator unchanged: point its authority at the emulator and the same code path that
signs in to real Azure signs in here.

The service principal's secret is checked here, at sign-in, as Entra ID does; and, as ARM does, every
ARM request must carry a token this endpoint issued, for ARM's audience, not expired: otherwise 401
`InvalidAuthenticationToken`, `InvalidAuthenticationTokenAudience` or `ExpiredAuthenticationToken`
(ARM's codes and messages). A client that asks for another cloud's scope (say US Government's) is
refused at its first request, as public Azure would refuse it.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from typing import Any

from wavelift.emulator.config import EmulatorConfig
from wavelift.emulator.errors import ArmError

ARM_AUDIENCES = (  # what public ARM accepts, as its audience error lists them
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
)
KEY_VAULT_AUDIENCES = ("https://vault.azure.net", "https://vault.azure.net/")  # the resource of a vault's challenge
LIFETIME = 3599


class Tokens:
    """The access tokens the emulator's Entra ID endpoint issued: their audience and expiry (wall-clock)."""

    def __init__(self) -> None:
        self._issued: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def issue(self, scope: str, lifetime: float = LIFETIME) -> str:
        token = secrets.token_urlsafe(32)
        audience = scope.removesuffix(".default") if scope.endswith("/.default") else scope
        with self._lock:
            self._issued[token] = (audience, time.time() + lifetime)
        return token

    def check(self, authorization: str, audiences: tuple[str, ...] = ARM_AUDIENCES) -> None:
        """Raise ARM's 401 unless `authorization` is a bearer token issued here, for one of `audiences` (ARM's
        unless another service is asked), still valid."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or not a bearer token.",
            )
        with self._lock:
            issued = self._issued.get(token.strip())
        if issued is None:
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.")
        audience, expires = issued
        if audience not in audiences:
            allowed = "','".join(audiences)
            raise ArmError(
                401,
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{audience}'. It should exactly "
                f"match with one of the allowed audiences '{allowed}'.",
            )
        if time.time() >= expires:
            raise ArmError(
                401,
                "ExpiredAuthenticationToken",
                f"The access token expiry UTC time '{time.strftime('%m/%d/%Y %H:%M:%S', time.gmtime(expires))}' is "
                "earlier than current UTC time.",
            )


def openid_configuration(config: EmulatorConfig, base_url: str, tenant: str) -> dict[str, Any]:
    root = f"{base_url}/{tenant}"
    return {
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "issuer": f"{root}/v2.0",
        "jwks_uri": f"{root}/discovery/v2.0/keys",
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "response_types_supported": ["code", "id_token", "token"],
        "tenant_region_scope": "EU",
    }


def issue_token(
    config: EmulatorConfig, tokens: Tokens, tenant: str, form: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """Answer a client-credentials grant as Entra ID does (AADSTS codes on failure)."""
    if form.get("grant_type") != "client_credentials":
        return 400, {
            "error": "unsupported_grant_type",
            "error_description": "AADSTS70003: The app requested an unsupported grant type.",
        }
    if tenant not in (config.tenant_id, "organizations"):
        return 400, {"error": "invalid_request", "error_description": f"AADSTS90002: Tenant '{tenant}' not found."}
    if form.get("client_id") != config.client_id:
        return 400, {
            "error": "unauthorized_client",
            "error_description": f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not found.",
        }
    if not hmac.compare_digest(form.get("client_secret", ""), config.client_secret):
        return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}
    scope = form.get("scope", "")
    if not scope:
        return 400, {
            "error": "invalid_scope",
            "error_description": "AADSTS1002012: The provided value for scope is empty.",
        }
    return 200, {
        "token_type": "Bearer",
        "expires_in": LIFETIME,
        "ext_expires_in": LIFETIME,
        "access_token": tokens.issue(scope),
    }
