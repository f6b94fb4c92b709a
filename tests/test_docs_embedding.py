"""docs/embedding.md promises that every snippet runs as written from the repository's
root: run each one, so the guide cannot drift from the API it teaches."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from shipped import ROOT

GUIDE = ROOT / "docs" / "embedding.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", GUIDE.read_text("utf-8"), re.S)


def test_the_guide_has_snippets() -> None:
    assert len(SNIPPETS) >= 5


@pytest.mark.parametrize("n", range(len(SNIPPETS)))
def test_each_snippet_runs_as_written(n: int) -> None:
    run = subprocess.run([sys.executable, "-c", SNIPPETS[n]], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, f"snippet {n}:\n{SNIPPETS[n]}\n{run.stderr}"
