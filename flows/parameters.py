"""Bounded types for flow parameters: the UI's form and Prefect's API refuse a value outside them before a run starts.

A negative poll interval once listed the vault 22 times a second: every number an operator types has
a range, and every wave name has the shape of one (`blocks.parameters` types the names of blocks).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from wavelift.tasks.names import NAME_PATTERN

WaveName = Annotated[str, Field(pattern=NAME_PATTERN, description="The wave: lower-case letters, digits and '-'.")]
PollInterval = Annotated[
    float, Field(ge=0.1, le=3600, description="Seconds between vault reads (0.1–3600; 60–300 against Azure).")
]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
