"""Bad input is refused whole, before anything changes, with every problem named by row, field and reason."""

from __future__ import annotations

from pydantic import BaseModel


class Problem(BaseModel):
    """One thing wrong with an input: where it is and why it is refused."""

    source: str
    row: int | None = None
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}, row {self.row}" if self.row is not None else self.source
        return f"{where}, field {self.field}: {self.reason}"


class InputRefused(ValueError):
    """Raised with all the problems found, so an operator fixes the file once, not once per error."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} problem(s); nothing was changed:\n{shown}{more}")
