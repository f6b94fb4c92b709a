"""``cycleflow init``: scaffold a small policy, its deal schema and its test suite.

The files come from ``cycleflow/templates/`` (packaged data); the scaffold lints
clean and its suite passes with full rule coverage.
"""

from __future__ import annotations

import os
import re
from importlib import resources

from cycleflow.errors import UsageError

_ID = re.compile(r"^[a-z][a-z0-9_-]*$")


def policy_id_for(directory: str, given: str | None) -> str:
    """The policy id: ``given``, or one made from the directory's name."""
    if given is not None:
        if not _ID.match(given):
            raise UsageError(f"--id {given!r}: an id is lower-case letters, digits, '_' or '-', "
                             "starting with a letter")
        return given
    base = os.path.basename(os.path.abspath(directory)).lower()
    made = re.sub(r"[^a-z0-9_-]+", "-", base).strip("-_")
    if not made or not made[0].isalpha():
        made = "policy-" + made if made else "my-policy"
    return made


def _template(name: str) -> str:
    return resources.files("cycleflow").joinpath("templates", name).read_text("utf-8")


def scaffold(directory: str, policy_id: str | None = None, *, force: bool = False) -> list[str]:
    """Write the policy, deal schema and suite; returns their paths (policy first, suite last)."""
    pid = policy_id_for(directory, policy_id)
    file, suite = f"{pid}.yaml", f"{pid}.test.yaml"
    targets = [(file, "policy.yaml"), ("deal.schema.json", "deal.schema.json"),
               (suite, "policy.test.yaml")]
    paths = [os.path.join(directory, name) for name, _ in targets]
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not force:
        raise UsageError("refusing to overwrite " + ", ".join(existing) + " (use --force)")
    os.makedirs(directory, exist_ok=True)
    for path, (_, template) in zip(paths, targets, strict=True):
        text = (_template(template).replace("{{policy_id}}", pid).replace("{{file}}", file)
                .replace("{{suite}}", suite))
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return paths
