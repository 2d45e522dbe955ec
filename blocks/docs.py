"""Where the as-built records go: a folder of Markdown files, committed with git when it is a repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

from prefect.blocks.core import Block
from pydantic import Field


class DocsTarget(Block):
    """A documentation folder (often a clone of the team's docs repository).

    Example:
        ```python
        from wavelift.blocks.docs import DocsTarget
        docs = DocsTarget.load("BLOCK_NAME")
        docs.write("plan/wave-1/web-01.md", "# web-01")
        ```
    """

    _block_type_name = "wavelift Docs Target"
    _block_type_slug = "wavelift-docs-target"
    _documentation_url = "https://learn.microsoft.com/azure/migrate/migrate-best-practices-security-management"

    folder: str = Field(description="Folder the records are written to; created if missing.")
    commit: bool = Field(
        default=True, description="Commit the changed records when the folder is inside a git repository."
    )
    author: str = Field(
        default="wavelift <wavelift@localhost>",
        pattern=r"^[^<>]+ <[^<>]+>$",
        description="Author of the commits, as 'Name <email>'.",
    )

    def write(self, relative: str, text: str) -> bool:
        """Write one file under the folder; False (and nothing touched) when it already says that."""
        root = Path(self.folder).resolve()
        path = (root / relative).resolve()
        if root not in path.parents:
            raise ValueError(f"{relative!r} points outside the docs folder {root}")
        if path.exists() and path.read_text() == text:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return True

    def commit_changes(self, paths: list[str], message: str) -> str | None:
        """Commit these files if the folder is in a git repository and they changed; the commit id, or None."""
        root = Path(self.folder).resolve()
        if not (self.commit and paths and self._git(root, "rev-parse", "--is-inside-work-tree", check=False) == "true"):
            return None
        self._git(root, "add", "--", *paths)
        if not self._git(root, "diff", "--cached", "--name-only", "--", *paths):
            return None
        name, email = self.author[:-1].split(" <")
        self._git(
            root,
            "-c",
            f"user.name={name}",
            "-c",
            f"user.email={email}",
            "commit",
            "--quiet",
            "-m",
            message,
            "--",
            *paths,
        )
        return self._git(root, "rev-parse", "HEAD")

    @staticmethod
    def _git(cwd: Path, *args: str, check: bool = True) -> str:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"git {args[0]} in {cwd} failed: {done.stderr.strip()}")
        return done.stdout.strip()
