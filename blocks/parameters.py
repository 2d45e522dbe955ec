"""Parameters that name a saved block: a picker in the UI, a name in the flow.

The JSON schema of each type is the block type's, so the Prefect UI offers the saved documents of that
type instead of a text box where a typo is found only when the run fails. The UI sends the choice as a
reference (`{"$ref": {"block_document_id": ...}}`), and so can the API or the CLI
(`{"$ref": {"block_document_slug": "wavelift-wave-plan/q3"}}`); Prefect loads the block before the flow
validates its parameters, and the validator here keeps only the document's name. Inside wavelift a block is
always named, never passed around: every step loads what it needs, so a run's parameters and a
Python call (`harden_wave("q3", "wave-1", "standard")`) stay names.
"""

from __future__ import annotations

from typing import Annotated, Any

from prefect.blocks.core import Block
from pydantic import BeforeValidator, Field

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.cleanup import CleanupPolicy
from wavelift.blocks.hardening import HardeningPolicy
from wavelift.blocks.plan import WavePlanBlock
from wavelift.tasks.names import BLOCK_NAME_PATTERN, NAME_PATTERN


def _saved_block_name(block_type: type[Block], pattern: str, description: str) -> Any:
    """A name typed as `block_type` for the UI: keeps the chosen document's name, refuses a block given inline
    (it has no name to record) or one of another type."""

    def name(value: Any) -> Any:
        if isinstance(value, Block):
            if not isinstance(value, block_type) or value._block_document_name is None:
                raise ValueError(f"choose a saved {block_type.get_block_type_name()} block")
            return value._block_document_name
        if isinstance(value, dict):
            raise ValueError(
                f"choose a saved {block_type.get_block_type_name()} block by name or reference, not its fields"
            )
        return value

    return Annotated[
        str,
        BeforeValidator(name, json_schema_input_type=block_type),
        Field(pattern=pattern, description=description),
    ]


PlanName = _saved_block_name(WavePlanBlock, NAME_PATTERN, "The plan (a wavelift Wave Plan block).")
TargetName = _saved_block_name(AzureMigrationTarget, BLOCK_NAME_PATTERN, "The wavelift Azure Migration Target block.")
HardeningPolicyName = _saved_block_name(HardeningPolicy, BLOCK_NAME_PATTERN, "A wavelift Hardening Policy block.")
CleanupPolicyName = _saved_block_name(CleanupPolicy, BLOCK_NAME_PATTERN, "A wavelift Cleanup Policy block.")


def reference(block_type: type[Block], name: str) -> dict[str, Any]:
    """A reference to a block by name, resolved when a run starts: what the API and the CLI send."""
    return {"$ref": {"block_document_slug": f"{block_type.get_block_type_slug()}/{name}"}}


def saved_reference(block_type: type[Block], name: str) -> dict[str, Any]:
    """A deployment's default for a block: the document's id when it is saved already, which the UI's
    picker shows as chosen (it shows a reference by name as nothing chosen); by name until then. Saving
    a block again keeps its id, so a re-imported plan stays the one referenced."""
    from prefect.exceptions import ObjectNotFound

    try:
        document_id = block_type.load(name)._block_document_id
    except (ObjectNotFound, ValueError):  # Prefect says "Unable to find block document named ..." as ValueError
        return reference(block_type, name)
    return {"$ref": {"block_document_id": str(document_id)}}
