"""Fault injection: make chosen requests fail, slow down, or make their long-running operation fail or end
in one of Azure's in-between outcomes.

Rules are posted to `/_emulator/faults` by tests and demos. A rule matches a method and a path regex;
it either answers with an error status (with optional headers such as Retry-After), adds latency, lets
the request through and makes the operation it starts end `Failed` with an Azure error body, or lets a
migration or test migration end "completed with information" or "partially succeeded" (the VM is made;
Azure's `MigrationState` / `TestMigrationState` say so).
"""

from __future__ import annotations

import random
import re
from typing import Literal

from pydantic import BaseModel, Field, model_validator


class AzureErrorBody(BaseModel):
    """The `error` object an LRO ends with when a rule fails it."""

    code: str
    message: str


class FaultRule(BaseModel):
    """One injected fault."""

    method: str = Field(default="*", description="HTTP method to match, or * for any.")
    path: str = Field(description="Regular expression searched in the request path.")
    status: int | None = Field(default=None, ge=400, le=599, description="Answer with this status instead of serving.")
    code: str = Field(default="InjectedFault", description="Error code of the injected answer.")
    message: str = Field(default="Fault injected by the emulator.", description="Error message of the injected answer.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers of the injected answer.")
    latency_ms: int = Field(default=0, ge=0, le=60_000, description="Delay before answering.")
    lro_error: AzureErrorBody | None = Field(
        default=None, description="Serve the request but end its LRO Failed with this error."
    )
    lro_outcome: Literal["CompletedWithInformation", "PartiallySucceeded"] | None = Field(
        default=None,
        description="Serve a migrate or testMigrate request; it ends Migration<outcome> / TestMigration<outcome>.",
    )
    count: int | None = Field(default=None, ge=1, description="Fire this many times, then retire.")
    probability: float = Field(default=1.0, ge=0, le=1, description="Chance that a matching request fires.")

    @model_validator(mode="after")
    def _has_an_effect(self) -> FaultRule:
        if self.status is None and self.lro_error is None and self.lro_outcome is None and not self.latency_ms:
            raise ValueError("a fault rule needs status, lro_error, lro_outcome or latency_ms")
        re.compile(self.path)
        return self


Effect = Literal["error", "lro_error", "latency"]


class Faults:
    """The active rules; seeded so probabilistic faults are reproducible."""

    def __init__(self, seed: int) -> None:
        self._rules: list[FaultRule] = []
        self._fired: list[int] = []
        self._random = random.Random(seed)

    def add(self, rule: FaultRule) -> None:
        self._rules.append(rule)
        self._fired.append(0)

    def clear(self) -> None:
        self._rules.clear()
        self._fired.clear()

    def match(self, method: str, path: str) -> FaultRule | None:
        """The first live rule that fires for this request (and count it as fired)."""
        for index, rule in enumerate(self._rules):
            if rule.count is not None and self._fired[index] >= rule.count:
                continue
            if rule.method != "*" and rule.method.upper() != method.upper():
                continue
            if not re.search(rule.path, path):
                continue
            if rule.probability < 1 and self._random.random() >= rule.probability:
                continue
            self._fired[index] += 1
            return rule
        return None

    def describe(self) -> list[dict]:
        return [{**rule.model_dump(), "fired": fired} for rule, fired in zip(self._rules, self._fired, strict=True)]
