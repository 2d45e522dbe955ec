"""Parameters that name a plan, a target or a policy are pickers of saved blocks in the UI, and names in
the flow: the deployment's schema is the block type's, and a chosen document becomes its name."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.blocks.core import Block
from pydantic import TypeAdapter, ValidationError

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.cleanup import CleanupPolicy
from wavelift.blocks.hardening import HardeningPolicy
from wavelift.blocks.parameters import CleanupPolicyName, HardeningPolicyName, PlanName, reference
from wavelift.blocks.plan import WavePlanBlock
from wavelift.deployments.definitions import NightlyCutover, deployments


def _block_slug(schema: dict[str, Any], node: dict[str, Any]) -> str | None:
    """The block type a schema property picks from, following `$ref`s and optional (`anyOf` with null) types."""
    for option in node.get("anyOf", [node]):
        if ref := option.get("$ref"):
            definition = schema["definitions"][ref.rsplit("/", 1)[-1]]
            if "block_type_slug" in definition:
                return definition["block_type_slug"]
    return None


def _properties(schema: dict[str, Any], node: dict[str, Any], path: str = "") -> dict[str, dict[str, Any]]:
    """Every property of the form, nested request models included, by dotted path."""
    found: dict[str, dict[str, Any]] = {}
    for name, prop in node.get("properties", {}).items():
        found[path + name] = prop
        ref = prop.get("$ref", "")
        definition = schema["definitions"].get(ref.rsplit("/", 1)[-1], {}) if ref else {}
        if definition and "block_type_slug" not in definition:
            found |= _properties(schema, definition, f"{path}{name}.")
    return found


def test_every_form_picks_plans_targets_and_policies_from_the_saved_blocks() -> None:
    picks: dict[str, str] = {}
    for deployment in deployments(NightlyCutover()):
        schema = deployment._parameter_openapi_schema.model_dump()
        for path, prop in _properties(schema, schema).items():
            leaf = path.rsplit(".", 1)[-1]
            slug = _block_slug(schema, prop)
            if leaf in ("plan_name", "target_block", "policy_block", "hardening_policy", "cleanup_policy"):
                if deployment.name == "import-plan" and path == "settings.plan_name":
                    assert slug is None  # the name of the plan being created: typed, not picked
                    continue
                assert slug is not None, f"{deployment.name}: {path} is a text box, not a picker"
                picks[f"{deployment.name}:{path}"] = slug
    assert picks == {
        "inventory:target_block": "wavelift-azure-migration-target",
        "import-plan:settings.target_block": "wavelift-azure-migration-target",
        "preflight-wave:plan_name": "wavelift-wave-plan",
        "preflight-wave:hardening_policy": "wavelift-hardening-policy",
        "replicate-wave:plan_name": "wavelift-wave-plan",
        "test-wave:plan_name": "wavelift-wave-plan",
        "sign-off:request.plan_name": "wavelift-wave-plan",
        "cutover-now:request.plan_name": "wavelift-wave-plan",
        "nightly-cutover:request.plan_name": "wavelift-wave-plan",
        "smoke-test-wave:plan_name": "wavelift-wave-plan",
        "harden-wave:plan_name": "wavelift-wave-plan",
        "harden-wave:policy_block": "wavelift-hardening-policy",
        "update-backup-policy:plan_name": "wavelift-wave-plan",
        "update-backup-policy:policy_block": "wavelift-hardening-policy",
        "cleanup-wave:request.plan_name": "wavelift-wave-plan",
        "cleanup-wave:request.policy_block": "wavelift-cleanup-policy",
        "migrate-wave:request.plan_name": "wavelift-wave-plan",
        "migrate-wave:request.hardening_policy": "wavelift-hardening-policy",
        "migrate-wave:request.cleanup_policy": "wavelift-cleanup-policy",
        "resync-wave:request.plan_name": "wavelift-wave-plan",
        "rollback-cutover:request.plan_name": "wavelift-wave-plan",
    }


def test_the_nightly_cutover_names_its_plan_by_reference() -> None:
    nightly = next(d for d in deployments(NightlyCutover(plan_name="q3")) if d.name == "nightly-cutover")
    assert nightly.parameters == {"request": {"plan_name": {"$ref": {"block_document_slug": "wavelift-wave-plan/q3"}}}}
    assert reference(AzureMigrationTarget, "prod") == {
        "$ref": {"block_document_slug": "wavelift-azure-migration-target/prod"}
    }


def _saved(block: Block, name: str) -> Block:
    block._block_document_name = name  # what Block.load sets
    return block


def test_a_chosen_block_becomes_its_name_and_an_inline_one_is_refused() -> None:
    policy = HardeningPolicy(management_cidrs=["10.0.0.0/24"])
    names = TypeAdapter(HardeningPolicyName)
    assert names.validate_python(_saved(policy, "standard")) == "standard"
    assert names.validate_python("standard") == "standard"  # a Python caller's name
    with pytest.raises(ValidationError, match="choose a saved wavelift Hardening Policy block"):
        names.validate_python(HardeningPolicy(management_cidrs=["10.0.0.0/24"]))  # never saved: no name to record
    with pytest.raises(ValidationError, match="not its fields"):
        names.validate_python({"management_cidrs": ["10.0.0.0/24"]})
    with pytest.raises(ValidationError, match="choose a saved wavelift Cleanup Policy block"):
        TypeAdapter(CleanupPolicyName).validate_python(_saved(policy, "standard"))  # a block of another type
    with pytest.raises(ValidationError, match="pattern"):
        TypeAdapter(PlanName).validate_python("../other-plan")
    assert CleanupPolicy.get_block_type_slug() == "wavelift-cleanup-policy"
    assert WavePlanBlock.get_block_type_slug() == "wavelift-wave-plan"


def test_a_wave_the_plan_does_not_have_is_refused_with_the_waves_it_has() -> None:
    from wavelift.tasks.plan_models import Wave, WavePlan

    plan = WavePlan.model_construct(
        name="q3", target_block="prod", waves=[Wave.model_construct(name=n) for n in ("wave-1", "wave-2")]
    )
    with pytest.raises(LookupError) as refused:
        plan.wave("wave-3")
    assert str(refused.value) == "plan q3 has no wave 'wave-3'; choose one of wave-1, wave-2"
