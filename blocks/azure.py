"""Azure credentials and the Azure migration target, as Prefect blocks that build the SDK clients.

This is wavelift's one path to Azure: every task gets its clients from an `AzureMigrationTarget`.
Pointing wavelift at the emulator instead of Azure changes only block fields (the ARM endpoint, the
sign-in authority and a CA bundle), never code. The SDKs are imported when a client is built, not at
import time: together they take about a second to import.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, model_validator

from wavelift.blocks.arm_budget import ArmBudget
from wavelift.tasks.names import subnet_name_problem, vnet_id_problem, within

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import RequestsTransport
    from azure.keyvault.secrets import SecretClient
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.quota import QuotaMgmtClient
    from azure.mgmt.recoveryservices import RecoveryServicesClient
    from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
    from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient
    from azure.mgmt.resource.features import FeatureClient
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.storage import StorageManagementClient

POOL_CONNECTIONS = 128  # a replicate run's task threads: each may be in a call at once
_CLIENTS: dict[tuple[str, str, str], Any] = {}
_CREDENTIALS: dict[str, Any] = {}
_CACHE_LOCK = threading.Lock()
EMULATED_POLL_SECONDS = 300.0  # the emulator's target polls every five emulated minutes, as against Azure
CLOUDS = {"public": "AZURE_PUBLIC_CLOUD", "us_government": "AZURE_US_GOVERNMENT", "china": "AZURE_CHINA_CLOUD"}
AUTHORITIES = {
    "public": "login.microsoftonline.com",
    "us_government": "login.microsoftonline.us",
    "china": "login.chinacloudapi.cn",
}
PUBLIC_AUTHORITIES = set(AUTHORITIES.values())  # Microsoft's own clouds: instance discovery vouches for them


class AzureCredentials(Block):
    """How wavelift signs in to Microsoft Entra ID: DefaultAzureCredential, a service principal, or a
    managed identity.

    Example:
        ```python
        from wavelift.blocks.azure import AzureCredentials
        credentials = AzureCredentials.load("BLOCK_NAME")
        token_credential = credentials.get_credential()
        ```
    """

    _block_type_name = "wavelift Azure Credentials"
    _block_type_slug = "wavelift-azure-credentials"
    _documentation_url = "https://learn.microsoft.com/python/api/overview/azure/identity-readme"

    kind: Literal["default", "service_principal", "managed_identity"] = Field(
        default="default",
        description="Which credential to use: default (DefaultAzureCredential), service_principal or managed_identity.",
    )
    tenant_id: str | None = Field(
        default=None, description="Microsoft Entra tenant id; required for a service principal."
    )
    client_id: str | None = Field(
        default=None,
        description="Application (client) id of the service principal, or of a user-assigned managed identity.",
    )
    client_secret: SecretStr | None = Field(default=None, description="Client secret of the service principal.")
    authority_host: str | None = Field(
        default=None,
        description="Sign-in authority, e.g. login.microsoftonline.us for Azure Government or the emulator's address; "
        "empty means Azure public cloud.",
    )

    @model_validator(mode="after")
    def _complete_for_kind(self) -> AzureCredentials:
        if self.kind == "service_principal":
            missing = [f for f in ("tenant_id", "client_id", "client_secret") if not getattr(self, f)]
            if missing:
                raise ValueError(f"a service principal needs {', '.join(missing)}")
        return self

    def get_credential(
        self, connection_verify: str | None = None, cloud_authority: str | None = None
    ) -> TokenCredential:
        """Build the azure-identity credential; `connection_verify` is a CA bundle for a private authority, and
        `cloud_authority` the sign-in host of the target's cloud when the block names none."""
        from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential

        options: dict[str, Any] = {}
        if connection_verify:
            options["connection_verify"] = connection_verify
        authority = self.authority_host or cloud_authority
        if authority:
            options["authority"] = authority
            host = authority.split("://")[-1].split("/")[0]
            # Instance discovery asks login.microsoft.com to vouch for the authority: only public clouds pass it.
            options["disable_instance_discovery"] = host not in PUBLIC_AUTHORITIES
        if self.kind == "service_principal":
            assert self.client_secret is not None and self.tenant_id and self.client_id
            return ClientSecretCredential(
                self.tenant_id, self.client_id, self.client_secret.get_secret_value(), **options
            )
        if self.kind == "managed_identity":
            return ManagedIdentityCredential(
                client_id=self.client_id, **{k: v for k, v in options.items() if k == "connection_verify"}
            )
        return DefaultAzureCredential(**options)


class AzureMigrationTarget(Block):
    """Where servers migrate from and to: the Azure Migrate project and its vault, the target
    subscription, region, resource group and networks. Builds the Azure SDK clients wavelift uses.

    Example:
        ```python
        from wavelift.blocks.azure import AzureMigrationTarget
        target = AzureMigrationTarget.load("BLOCK_NAME")
        site_recovery = target.site_recovery_client()
        ```
    """

    _block_type_name = "wavelift Azure Migration Target"
    _block_type_slug = "wavelift-azure-migration-target"
    _documentation_url = "https://learn.microsoft.com/azure/migrate/tutorial-migrate-vmware"

    credentials: AzureCredentials = Field(default_factory=AzureCredentials, description="How to sign in.")
    subscription_id: str = Field(
        description="Azure subscription of the Azure Migrate project and the target resources."
    )
    resource_group: str = Field(
        description="Resource group of the Azure Migrate project and its Recovery Services vault."
    )
    migrate_project: str = Field(description="Name of the Azure Migrate project.")
    vault: str = Field(description="Name of the Recovery Services vault that Azure Migrate's server migration uses.")
    site: str = Field(description="Name of the Azure Migrate VMware site (the appliance's discovery site).")
    target_region: str = Field(description="Azure region the servers migrate to, e.g. westeurope.")
    secondary_region: str | None = Field(
        default=None, description="Azure region for disaster-recovery replication, if any."
    )
    target_resource_group: str = Field(description="Resource group the migrated VMs are created in.")
    target_network_id: str = Field(description="Resource id of the virtual network the migrated VMs join.")
    target_subnet: str = Field(description="Subnet of the target network for the migrated VMs.")
    test_network_id: str = Field(description="Resource id of the isolated virtual network for test migrations.")
    test_subnet: str = Field(description="Subnet of the test network.")
    cloud: Literal["public", "us_government", "china"] = Field(
        default="public",
        description="Azure cloud: sets the ARM endpoint, the sign-in authority (unless the credentials name one) "
        "and the token scope.",
    )
    arm_endpoint: str | None = Field(
        default=None,
        description="Azure Resource Manager endpoint; empty means the cloud's (management.azure.com for public).",
    )
    ca_bundle: str | None = Field(
        default=None,
        description="Path of a CA bundle to trust for ARM and sign-in, for a private endpoint such as the emulator.",
    )
    polling_interval: float = Field(
        default=30.0, ge=0, description="Seconds between long-running-operation polls when Azure sends no Retry-After."
    )
    poll_interval: float = Field(
        default=300.0,
        ge=0.1,
        le=3600,
        description="Seconds between vault reads while machines seed, test or migrate: the flows' default (300 against "
        "Azure, where seeding takes hours; the emulator's target carries five emulated minutes).",
    )
    arm_request_share: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Share of ARM's request budget per subscription (reads 25/s, writes and deletes 10/s) this "
        "process's clients keep to; requests beyond it wait in the process. Several workers: shares adding up to 1.",
    )

    @model_validator(mode="after")
    def _isolated_test_network(self) -> AzureMigrationTarget:
        """The test network must be a network of its own, never production or a part of it (DESIGN rule 7);
        test migrations check again, reading both networks and their peerings, before each one starts."""
        if within(self.test_network_id, self.target_network_id):
            raise ValueError(
                f"test_network_id {self.test_network_id} is the production network (target_network_id) or a part of "
                "it: "
                "test migrations must go to an isolated network"
            )
        for field in ("target_network_id", "test_network_id"):
            if reason := vnet_id_problem(getattr(self, field)):
                raise ValueError(f"{field} {reason}")
        for field in ("target_subnet", "test_subnet"):
            if reason := subnet_name_problem(getattr(self, field)):
                raise ValueError(f"{field} {getattr(self, field)!r} {reason}")
        return self

    @property
    def target_resource_group_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.target_resource_group}"

    def _client_options(self) -> dict[str, Any]:
        from azure.core import AzureClouds

        # the cloud sets the ARM endpoint and the token scope (a US Government client asks for a .usgovcloudapi token)
        options: dict[str, Any] = {
            "polling_interval": self.polling_interval,
            "cloud_setting": AzureClouds[CLOUDS[self.cloud]],
            "raw_request_hook": ArmBudget.of(self.arm_request_share).request_hook,
        }
        if self.arm_endpoint:
            options["base_url"] = self.arm_endpoint.rstrip("/")
        if self.ca_bundle:
            options["connection_verify"] = self.ca_bundle
        return options

    def fingerprint(self) -> str:
        """What identifies this target's clients (and anything holding one): every field, the secret included
        (hashed, never kept)."""
        secret = self.credentials.client_secret.get_secret_value() if self.credentials.client_secret else ""
        text = (
            self.model_dump_json(exclude={"credentials"})
            + self.credentials.model_dump_json(exclude={"client_secret"})
            + secret
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def _cached(self, kind: str, scope: str, make: Callable[[Any], Any]) -> Any:
        """The process's client of this kind and scope for this target: built once by `make(credential)` (one
        credential per target) and reused by every task, since tasks load the block anew; closed at exit."""
        fingerprint = self.fingerprint()
        key = (fingerprint, kind, scope)
        with _CACHE_LOCK:
            if key not in _CLIENTS:
                if fingerprint not in _CREDENTIALS:
                    _CREDENTIALS[fingerprint] = self.credentials.get_credential(self.ca_bundle, AUTHORITIES[self.cloud])
                _CLIENTS[key] = make(_CREDENTIALS[fingerprint])
            return _CLIENTS[key]

    def _build(self, client_type: type, subscription_id: str | None = None) -> Any:
        """An ARM management client of the target's subscription (or another one's)."""
        subscription = subscription_id or self.subscription_id
        return self._cached(
            client_type.__name__,
            subscription,
            lambda credential: client_type(
                credential, subscription, transport=self._transport(self.arm_url()), **self._client_options()
            ),
        )

    def arm_url(self) -> str:
        """The ARM endpoint the management clients call: the block's, else its cloud's."""
        from azure.core import AzureClouds
        from azure.mgmt.core.tools import get_arm_endpoints

        return self.arm_endpoint or get_arm_endpoints(AzureClouds[CLOUDS[self.cloud]])["resource_manager"]

    def _transport(self, url: str) -> RequestsTransport:
        """azure-core's requests transport for a client of one host (`url`), with a connection pool as large as the
        threads that share a client: requests keeps 10 connections by default, so the eleventh call at once opened
        a connection (a TLS handshake) of its own and dropped it afterwards ("Connection pool is full, discarding
        connection").

        The environment's proxy and CA bundle settings (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE) are read once,
        for the client's host, by requests' own `merge_environment_settings`: left to itself, requests reads them
        again for every request, scanning the whole environment twice and looking for a ~/.netrc (a tenth of a small
        GET's CPU here, more in a container with hundreds of variables)."""
        import requests
        from azure.core.pipeline.transport import RequestsTransport
        from urllib3 import Retry

        session = requests.Session()
        no_retries = Retry(total=False, redirect=False, raise_on_status=False)  # azure-core's retry policy retries
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=POOL_CONNECTIONS, max_retries=no_retries)
        for scheme in ("https://", "http://"):
            session.mount(scheme, adapter)
        environment = session.merge_environment_settings(url, {}, None, self.ca_bundle, None)
        session.proxies = environment["proxies"]
        session.trust_env = False  # azure-core sets this only on sessions it makes (`use_env_settings`), not on ours
        return RequestsTransport(
            session=session, session_owner=True, use_env_settings=False, connection_verify=environment["verify"]
        )

    def site_recovery_client(self) -> SiteRecoveryManagementClient:
        """Site Recovery (replication, test migration, migration, jobs); its pipeline also serves OffAzure reads."""
        from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

        return self._build(SiteRecoveryManagementClient)

    def compute_client(self) -> ComputeManagementClient:
        from azure.mgmt.compute import ComputeManagementClient

        return self._build(ComputeManagementClient)

    def network_client(self, subscription_id: str | None = None) -> NetworkManagementClient:
        """Network client for the target's subscription, or another one's (a test network may live elsewhere)."""
        from azure.mgmt.network import NetworkManagementClient

        return self._build(NetworkManagementClient, subscription_id)

    def recovery_services_client(self) -> RecoveryServicesClient:
        from azure.mgmt.recoveryservices import RecoveryServicesClient

        return self._build(RecoveryServicesClient)

    def backup_client(self) -> RecoveryServicesBackupClient:
        from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient

        return self._build(RecoveryServicesBackupClient)

    def feature_client(self) -> FeatureClient:
        """Subscription preview features (encryption at host needs one registered)."""
        from azure.mgmt.resource.features import FeatureClient

        return self._build(FeatureClient)

    def resource_client(self) -> ResourceManagementClient:
        """Resource groups (DR replicas need one in the secondary region)."""
        from azure.mgmt.resource.resources import ResourceManagementClient

        return self._build(ResourceManagementClient)

    def storage_client(self) -> StorageManagementClient:
        """Storage accounts (A2A's cache account in the source region)."""
        from azure.mgmt.storage import StorageManagementClient

        return self._build(StorageManagementClient)

    def key_vault_client(self, subscription_id: str | None = None) -> KeyVaultManagementClient:
        """Key Vault management (where Azure Disk Encryption keeps its keys; the vault may be in another
        subscription's resource group)."""
        from azure.mgmt.keyvault import KeyVaultManagementClient

        return self._build(KeyVaultManagementClient, subscription_id)

    def secret_client(self, vault_url: str) -> SecretClient:
        """One Key Vault's secrets (its data plane, at the vault's `vaultUri`): Site Recovery needs a VM's disk
        encryption key copied to a vault of the secondary region. The SDK checks that a vault's sign-in challenge
        names a Key Vault domain of the vault's host; a private endpoint (`arm_endpoint`, such as the emulator)
        serves its vaults at its own address, so the check is kept for Azure's clouds only."""
        from azure.keyvault.secrets import SecretClient

        return self._cached(
            "SecretClient",
            vault_url.lower(),
            lambda credential: SecretClient(
                vault_url,
                credential,
                transport=self._transport(vault_url),
                verify_challenge_resource=not self.arm_endpoint,
            ),
        )

    def quota_client(self) -> QuotaMgmtClient:
        """The Quota API (raising a regional vCPU limit, as `az quota update` does)."""
        from azure.mgmt.quota import QuotaMgmtClient

        return self._build(QuotaMgmtClient)

    @classmethod
    def from_emulator(cls, connection_file: Path | str) -> AzureMigrationTarget:
        """A target for the emulator, from the `connection.json` it writes (service-principal sign-in)."""
        c = json.loads(Path(connection_file).read_text())
        credentials = AzureCredentials(
            kind="service_principal",
            tenant_id=c["tenant_id"],
            client_id=c["client_id"],
            client_secret=SecretStr(c["client_secret"]),
            authority_host=c["authority_host"],
        )
        return cls(
            credentials=credentials,
            subscription_id=c["subscription_id"],
            resource_group=c["resource_group"],
            migrate_project=c["migrate_project"],
            vault=c["vault"],
            site=c["site"],
            target_region=c["region"],
            secondary_region=c["secondary_region"],
            target_resource_group=c["target_resource_group"],
            target_network_id=c["target_network_id"],
            target_subnet=c["target_subnet"],
            test_network_id=c["test_network_id"],
            test_subnet=c["test_subnet"],
            arm_endpoint=c["base_url"],
            ca_bundle=c["ca_cert"],
            polling_interval=1.0,
            poll_interval=max(0.1, EMULATED_POLL_SECONDS / c.get("speed", 1.0)),
        )


@atexit.register
def _close_clients() -> None:
    """Close every client and credential this process built (their HTTP sessions and token caches)."""
    for closeable in [*_CLIENTS.values(), *_CREDENTIALS.values()]:
        with suppress(Exception):
            closeable.close()
    _CLIENTS.clear()
    _CREDENTIALS.clear()
