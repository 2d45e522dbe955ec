"""Bounded types for flow parameters: the UI's form and Prefect's API refuse a value outside them before a run starts.

A negative poll interval once listed the vault 22 times a second: every number an operator types has
a range, and every name that picks a block or a wave has the shape of one.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from tasks.names import BLOCK_NAME_PATTERN, NAME_PATTERN

PlanName = Annotated[str, Field(pattern=NAME_PATTERN, description="The plan (a wavelift Wave Plan block).")]
WaveName = Annotated[str, Field(pattern=NAME_PATTERN, description="The wave: lower-case letters, digits and '-'.")]
BlockName = Annotated[str, Field(pattern=BLOCK_NAME_PATTERN, description="Name of a block document.")]
PollInterval = Annotated[
    float, Field(ge=0.1, le=3600, description="Seconds between vault reads (0.1–3600; 60–300 against Azure).")
]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
