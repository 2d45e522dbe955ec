"""The wave plan as a Prefect block: durable, versioned by Prefect, readable and editable in the UI,
and loaded by name by every lifecycle flow (no private database).

The block *is* the plan (its fields are the plan's, not one `plan` field holding it): the UI shows a
field by field only at the top level and renders anything deeper as escaped JSON, so the plan's name,
target, waves and exclusions are fields of the block itself, and its edit form has a form for each wave,
window and machine."""

from __future__ import annotations

from prefect.blocks.core import Block

from wavelift.tasks.plan_models import WavePlan


class WavePlanBlock(Block, WavePlan):
    """A migration plan: waves of machines with their targets, maintenance windows and exclusions.

    Example:
        ```python
        from wavelift.blocks.plan import WavePlanBlock
        plan = WavePlanBlock.load("BLOCK_NAME").plan
        for wave in plan.waves:
            print(wave.name, len(wave.machines))
        ```
    """

    _block_type_name = "wavelift Wave Plan"
    _block_type_slug = "wavelift-wave-plan"
    _documentation_url = "https://learn.microsoft.com/azure/migrate/how-to-create-group-machine-dependencies"

    @classmethod
    def of(cls, plan: WavePlan) -> WavePlanBlock:
        """The block that saves `plan`."""
        return cls(**{field: getattr(plan, field) for field in WavePlan.model_fields})

    @property
    def plan(self) -> WavePlan:
        """The plan itself, without the block's machinery; validated already when the block was."""
        return WavePlan.model_construct(**{field: getattr(self, field) for field in WavePlan.model_fields})
