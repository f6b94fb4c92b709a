"""The README and the guides show commands with their output: run each one, so what a new
user types and reads there is what cycleflow does today (the docs cannot drift).

A ``console`` block holds ``$ command`` lines (a trailing backslash continues one) and the
output shown after each; a line ``...`` stands for any number of lines. The Spark pattern
of docs/distributed.md is run too, on a plain list of lines in place of a partition.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import orjson
import pytest
from shipped import ROOT

from cycleflow import Engine, load_policy

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def _commands(text: str) -> list[tuple[str, list[str] | None]]:
    """Each ``$`` command of a console block (continuations joined) and the lines shown:
    None for the block's last command when it shows none (the text around it describes
    the output), ``[]`` for one that another command follows at once (it prints nothing)."""
    out: list[tuple[str, list[str] | None]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        command = lines[i][2:]
        while command.endswith("\\"):
            i += 1
            command = command[:-1] + " " + lines[i].strip()
        i += 1
        shown: list[str] = []
        while i < len(lines) and not lines[i].startswith("$ "):
            shown.append(lines[i])
            i += 1
        out.append((command, shown or (None if i >= len(lines) else [])))
    return out


def _examples() -> list[tuple[str, str, list[str] | None]]:
    found = []
    for doc in DOCS:
        text = doc.read_text("utf-8")
        for block in _BLOCK.finditer(text):
            line = text.count("\n", 0, block.start()) + 1
            for command, shown in _commands(block.group(1)):
                found.append((f"{doc.name}:{line}", command, shown))
    return found


EXAMPLES = _examples()


def matches(shown: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` reads as ``shown``: line for line, ``...`` standing for any run."""
    if not shown:
        return not actual
    head, *rest = shown
    if head == "...":
        return any(matches(rest, actual[k:]) for k in range(len(actual) + 1))
    return bool(actual) and actual[0].rstrip() == head.rstrip() and matches(rest, actual[1:])


def test_the_matcher_tells_output_apart() -> None:
    assert matches(["a", "...", "z"], ["a", "b", "c", "z"])
    assert matches(["a", "...", "z"], ["a", "z"])
    assert not matches(["a", "...", "z"], ["a", "b"])
    assert not matches(["a", "z"], ["a", "b", "z"])
    assert not matches(["a"], ["a", "b"])  # no '...': every line shown, none more


def test_the_docs_show_commands() -> None:
    commands = [command for _, command, _ in EXAMPLES]
    assert len(commands) >= 6, commands
    assert all(command.startswith("cycleflow ") for command in commands), commands


@pytest.mark.parametrize(("where", "command", "shown"), EXAMPLES,
                         ids=[f"{w} {c.split()[1]}" for w, c, _ in EXAMPLES])
def test_each_command_prints_what_the_docs_show(where: str, command: str,
                                                 shown: list[str] | None) -> None:
    args = shlex.split(command)
    run = subprocess.run([sys.executable, "-m", "cycleflow", *args[1:]], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode in (0, 1), f"{where}: {command}\n{run.stderr}"
    actual = run.stdout.splitlines()
    if shown is None:  # the docs describe the output in words (a JSON decision, an explanation)
        assert actual, f"{where}: `{command}` printed nothing"
        return
    assert matches([s for s in shown if s.strip()], [a for a in actual if a.strip()]), (
        f"{where}: `{command}` no longer prints what the docs show.\nshown:\n"
        + "\n".join(shown) + "\nactual:\n" + run.stdout
    )


def _spark_partition_function() -> str:
    text = (ROOT / "docs" / "distributed.md").read_text("utf-8")
    block = re.search(r"```python\n(import orjson\nfrom pyspark.*?)```", text, re.S)
    assert block, "docs/distributed.md no longer shows the Spark pattern"
    code = block.group(1)
    # the function and its settings, without the SparkSession lines
    return code.split("\nspark = ", 1)[0].replace("from pyspark.sql import SparkSession\n", "")


def test_the_spark_pattern_checks_every_line_of_a_partition() -> None:
    """docs/distributed.md's check_partition, run on (line, index) pairs as Spark's
    zipWithIndex hands them: one verdict per record in order, each with its place in the
    input, a broken line an error verdict, a blank line no record, none dropped."""
    namespace: dict[str, object] = {}
    exec(compile(_spark_partition_function(), "distributed.md", "exec"), namespace)  # noqa: S102
    namespace["POLICY"] = str(ROOT / "policies" / "standard-sales-cycle.yaml")
    deals = [line for line in (ROOT / "examples" / "deals.jsonl").read_text("utf-8").splitlines()
             if line.strip()][:5]
    lines = [deals[0], '{"id": "OPP-cut", "stage": ', "", deals[1], "[1, 2]",
             '{"id": "OPP-nostage"}', *deals[2:]]
    check = namespace["check_partition"]
    assert callable(check)
    verdicts = [orjson.loads(v) for v in check(iter([(x, 100 + n) for n, x in enumerate(lines)]))]
    ids = [orjson.loads(d)["id"] for d in deals]
    assert [v["deal"] for v in verdicts] == [ids[0], None, ids[1], None, "OPP-nostage", *ids[2:]]
    assert [v["record"] for v in verdicts] == [101, 102, 104, 105, 106, 107, 108, 109]
    assert [v["verdict"] == "error" for v in verdicts] == [
        False, True, False, True, True, False, False, False]
    assert all(v["error"] for v in verdicts if v["verdict"] == "error")
    assert {v["source"] for v in verdicts} == {namespace["SOURCE"]}
    # the same verdicts as cycleflow check gives for the judged deals
    engine = Engine(load_policy(str(namespace["POLICY"])))
    for verdict, deal in zip([verdicts[0], verdicts[2], *verdicts[5:]],
                             [deals[0], deals[1], *deals[2:]], strict=True):
        expected = engine.check_record(orjson.loads(deal), str(namespace["NOW"]),
                                       record=verdict["record"], source=verdict["source"])
        assert verdict == orjson.loads(orjson.dumps(expected))
