"""The wave plan as a Prefect block: durable, versioned by Prefect, readable and editable in the UI,
and loaded by name by every lifecycle flow (no private database)."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field

from tasks.plan_models import WavePlan


class WavePlanBlock(Block):
    """A migration plan: waves of machines with their targets, maintenance windows and exclusions.

    Example:
        ```python
        from blocks.plan import WavePlanBlock
        plan = WavePlanBlock.load("BLOCK_NAME").plan
        for wave in plan.waves:
            print(wave.name, len(wave.machines))
        ```
    """

    _block_type_name = "wavelift Wave Plan"
    _block_type_slug = "wavelift-wave-plan"
    _documentation_url = "https://learn.microsoft.com/azure/migrate/how-to-create-group-machine-dependencies"

    plan: WavePlan = Field(
        description="The plan: waves, machines, maintenance windows and the machines left out with their reasons."
    )
