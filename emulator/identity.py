"""A minimal Microsoft Entra ID token endpoint, so `azure-identity`'s ClientSecretCredential works
against the emulator unchanged: point its authority at the emulator and the same code path that
signs in to real Azure signs in here.

ARM requests need a bearer token; the emulator accepts any, since it has no tenant to verify it
against. The service principal's secret is checked here, at sign-in, as Entra ID does.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from .config import EmulatorConfig


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


def issue_token(config: EmulatorConfig, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
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
    return 200, {
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": secrets.token_urlsafe(32),
    }
