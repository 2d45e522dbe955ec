"""The Azure blocks: Prefect's standard block checks, saving and loading on a real Prefect API,
secrets that never show, and sign-in through azure-identity against the emulator's authority."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from pydantic import SecretStr, ValidationError

from tests.conftest import Emulated
from wavelift.blocks.azure import AzureCredentials, AzureMigrationTarget
from wavelift.blocks.cleanup import CleanupPolicy
from wavelift.blocks.docs import DocsTarget
from wavelift.blocks.hardening import HardeningPolicy
from wavelift.blocks.onprem import HttpBackupCatalog, LocalDatastore
from wavelift.blocks.plan import WavePlanBlock
from wavelift.blocks.signoff import SignOffLedger, SignOffLedgerPage


@pytest.mark.parametrize(
    "block_type",
    [
        AzureCredentials,
        AzureMigrationTarget,
        WavePlanBlock,
        SignOffLedger,
        SignOffLedgerPage,
        HardeningPolicy,
        CleanupPolicy,
        HttpBackupCatalog,
        LocalDatastore,
        DocsTarget,
    ],
    ids=lambda b: b.__name__,
)
class TestBlockStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, block_type: type[Block]) -> type[Block]:
        return block_type

    def test_has_a_valid_image(self, block: type[Block]) -> None:
        """Prefect's check fetches the logo from the Internet; a site without it shows a broken image, so
        the block types carry none and the UI draws Prefect's own block icon."""
        assert block._logo_url is None and block._to_block_type().logo_url is None


def test_a_service_principal_needs_tenant_client_and_secret() -> None:
    with pytest.raises(ValidationError, match="a service principal needs tenant_id, client_secret"):
        AzureCredentials(kind="service_principal", client_id="app")


def test_the_secret_never_shows(emu: Emulated) -> None:
    secret = emu.connection["client_secret"]
    target = emu.target
    assert secret not in repr(target) and secret not in str(target)
    assert secret not in target.model_dump_json()
    assert secret not in json.dumps(target.model_dump(mode="json"))


def test_service_principal_sign_in_through_azure_identity(emu: Emulated) -> None:
    credential = emu.target.credentials.get_credential(emu.connection["ca_cert"])
    token = credential.get_token("https://management.azure.com/.default")
    assert token.token and token.expires_on > 0
    wrong = emu.target.credentials.model_copy(update={"client_secret": SecretStr("not-the-secret")})
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        wrong.get_credential(emu.connection["ca_cert"]).get_token("https://management.azure.com/.default")


def test_clients_reach_the_configured_endpoint(emu: Emulated) -> None:
    target = emu.target
    assert target.site_recovery_client()._config.subscription_id == emu.connection["subscription_id"]
    assert [v.name for v in target.recovery_services_client().vaults.list_by_resource_group(emu.rg)] == [emu.vault]
    assert {v.name for v in target.network_client().virtual_networks.list(emu.connection["target_resource_group"])} == {
        "vnet-target",
        "vnet-test",
    }
    assert list(target.compute_client().virtual_machines.list_all()) == []
    assert list(target.backup_client().backup_protected_items.list(emu.vault, emu.rg)) == []


def test_saved_blocks_load_with_the_secret_intact(emu: Emulated, prefect_server: None) -> None:
    emu.target.save("test-target", overwrite=True)
    loaded = AzureMigrationTarget.load("test-target")
    assert loaded.credentials.client_secret.get_secret_value() == emu.connection["client_secret"]
    assert loaded.arm_endpoint == emu.connection["base_url"]
    assert [f.name for f in loaded.site_recovery_client().replication_fabrics.list(emu.rg, emu.vault)] == [
        emu.connection["fabric"]
    ]


NETWORKS = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks"


def _azure_target(**fields: object) -> AzureMigrationTarget:
    """A target in Azure itself (no emulator endpoint), with these fields changed."""
    defaults: dict[str, object] = dict(
        subscription_id="s",
        resource_group="rg",
        migrate_project="p",
        vault="v",
        site="site",
        target_region="westeurope",
        target_resource_group="t",
        target_network_id=f"{NETWORKS}/prod",
        target_subnet="default",
        test_network_id=f"{NETWORKS}/test",
        test_subnet="default",
    )
    return AzureMigrationTarget(**(defaults | fields))


def test_public_cloud_defaults_leave_the_endpoint_alone() -> None:
    target = _azure_target()
    assert target.credentials.kind == "default"
    assert "base_url" not in target._client_options()
    assert "connection_verify" not in target._client_options()


def test_clients_are_built_once_per_process_and_target(emu: Emulated) -> None:
    again = AzureMigrationTarget.from_emulator(emu.connection_file)
    again.polling_interval = emu.target.polling_interval
    client = emu.target.site_recovery_client()
    assert again.site_recovery_client() is client and emu.target.compute_client() is emu.target.compute_client()
    assert (
        again.compute_client()._config.credential is client._config.credential
    )  # one credential for every client of the target
    rotated = again.model_copy(
        update={"credentials": again.credentials.model_copy(update={"client_secret": SecretStr("rotated")})}
    )
    assert rotated.site_recovery_client() is not client


def test_the_emulators_target_polls_every_five_emulated_minutes(emu: Emulated) -> None:
    assert emu.connection["speed"] == 1000.0 and emu.target.poll_interval == 0.3  # 300 emulated seconds at x1000
    assert (
        AzureMigrationTarget.model_fields["poll_interval"].default == 300.0
    )  # against Azure, where seeding takes hours


def test_one_command_saves_the_emulators_blocks(emu: Emulated, prefect_server: None, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from wavelift.blocks.onprem import HttpBackupCatalog, LocalDatastore
    from wavelift.deployments.cli import app

    command = ["emulator-blocks", str(emu.connection_file), "--name", "by-hand", "--grace-hours", "2"]
    result = CliRunner().invoke(app, [*command, "--docs-folder", str(tmp_path / "docs")])
    assert result.exit_code == 0, result.output
    assert "saved wavelift-azure-migration-target/by-hand" in result.output
    assert AzureMigrationTarget.load("by-hand").arm_endpoint == emu.connection["base_url"]
    assert HttpBackupCatalog.load("by-hand").jobs_of("no-such-server") == []
    assert LocalDatastore.load("by-hand").root == emu.connection["san_path"]
    policy = CleanupPolicy.load("by-hand")  # the policies too: harden-wave and cleanup-wave run without Python
    assert (policy.hardening_policy, policy.grace_period_hours, policy.docs_target) == ("by-hand", 2.0, "by-hand")
    assert isinstance(policy.catalog(), HttpBackupCatalog) and isinstance(policy.disks(), LocalDatastore)
    assert DocsTarget.load("by-hand").folder == str(tmp_path / "docs")
    hardening = HardeningPolicy.load("by-hand")
    assert hardening.key_vault_resource_id == emu.connection["key_vault_id"] and hardening.management_cidrs


def test_a_sovereign_cloud_sets_the_endpoint_the_authority_and_the_token_scope() -> None:
    credentials = AzureCredentials(kind="service_principal", tenant_id="t", client_id="c", client_secret=SecretStr("s"))
    target = _azure_target(target_region="usgovvirginia", cloud="us_government", credentials=credentials)
    client = target.compute_client()
    assert client._config.base_url == "https://management.usgovcloudapi.net/"
    assert client._config.credential_scopes == ["https://management.core.usgovcloudapi.net/.default"]
    assert client._config.credential._authority == "https://login.microsoftonline.us"  # signs in where the cloud does
    assert (
        target.model_copy(update={"cloud": "public"}).compute_client()._config.base_url
        == "https://management.azure.com/"
    )


def test_a_flow_run_loads_a_block_once_and_the_next_run_anew(prefect_server: None, tmp_path: Path) -> None:
    """Every step of a run shares one load of a block (a thousand machines, one API read and one `loaded` event);
    a block the operator changed between runs is what the next run loads."""
    from prefect import flow

    from wavelift.blocks.loading import load_for_run

    @flow
    def read_twice() -> tuple[bool, str]:
        first, second = load_for_run(DocsTarget, "load-once"), load_for_run(DocsTarget, "load-once")
        return first is second, second.folder

    DocsTarget(folder=str(tmp_path / "a")).save("load-once", overwrite=True)
    assert read_twice() == (True, str(tmp_path / "a"))
    DocsTarget(folder=str(tmp_path / "b")).save("load-once", overwrite=True)
    assert read_twice() == (True, str(tmp_path / "b"))
