"""Options every command shares: output the terminal cannot encode, and ``--lang``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "standard-sales-cycle.yaml"
DEAL = ROOT / "examples" / "deal-negotiation.json"
QUALIFIED = ROOT / "examples" / "deal-qualified.json"
NOW = "2026-11-26T12:00:00Z"


def run_cycleflow(*args: str, encoding: str = "utf-8") -> subprocess.CompletedProcess[bytes]:
    """The real entry point in a child process whose stdio encoding is ``encoding``."""
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    env.pop("CYCLEFLOW_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "cycleflow", *args], cwd=ROOT, env=env,
                          capture_output=True, timeout=120, check=False)


def _zh_suite(tmp_path: Path) -> Path:
    suite = tmp_path / "zh.test.yaml"
    suite.write_text(
        f"policy: {POLICY}\nlang: zh\nnow: \"{NOW}\"\ncases:\n"
        "  - {name: 预期错误, check: true, deal: {id: a, stage: qualified}, "
        "expect: {verdict: compliant}}\n",
        encoding="utf-8",
    )
    return suite


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["explain", "-p", str(POLICY), "--deal", str(DEAL), "--now", NOW, "--lang", "zh"], 0),
        (["graph", "-p", str(POLICY), "--lang", "zh"], 0),
        (["decide", "-p", str(POLICY), "--deal", str(QUALIFIED), "--trigger", "advance",
          "--now", NOW, "--lang", "zh"], 1),
        (["test", "{suite}", "-v"], 1),
    ],
    ids=["explain", "graph", "decide", "test"],
)
def test_chinese_under_latin1_is_replaced_not_an_internal_error(
    tmp_path: Path, args: list[str], code: int
) -> None:
    args = [a.replace("{suite}", str(_zh_suite(tmp_path))) for a in args]
    result = run_cycleflow(*args, encoding="latin-1")
    assert result.returncode == code, result.stderr.decode("latin-1")
    assert b"internal error" not in result.stderr and b"Traceback" not in result.stderr
    assert b"??" in result.stdout                    # what latin-1 cannot show is replaced
    utf8 = run_cycleflow(*args)
    assert utf8.returncode == code
    text = utf8.stdout.decode()
    assert any(word in text for word in ("交易", "意向客户", "预期错误"))


def _german_policy(tmp_path: Path) -> Path:
    """The shipped policy with one German label: 'de' is then a language the policy speaks."""
    text = POLICY.read_text(encoding="utf-8")
    text = text.replace("label: {en: Prospect, zh: 潜在客户}",
                        "label: {en: Prospect, zh: 潜在客户, de: Interessent}")
    text = text.replace("deal_schema: ../schemas/", f"deal_schema: {ROOT / 'schemas'}/")
    path = tmp_path / "policy-de.yaml"
    path.write_text(text, encoding="utf-8")
    return path


LANG_COMMANDS = {
    "explain": ["explain", "-p", "{policy}", "--deal", str(DEAL), "--now", NOW],
    "graph": ["graph", "-p", "{policy}"],
    "decide": ["decide", "-p", "{policy}", "--deal", str(QUALIFIED), "--trigger", "advance",
               "--now", NOW],
    "check": ["check", "-p", "{policy}", str(QUALIFIED), "--format", "jsonl", "--now", NOW],
}


@pytest.mark.parametrize("command", sorted(LANG_COMMANDS))
def test_an_unknown_lang_is_accepted_with_one_warning(tmp_path: Path, command: str) -> None:
    from click.testing import CliRunner

    from cycleflow.cli.main import cli

    policy = _german_policy(tmp_path)
    args = [a.replace("{policy}", str(policy)) for a in LANG_COMMANDS[command]]
    english = CliRunner().invoke(cli, [*args, "--lang", "en"])
    unknown = CliRunner().invoke(cli, [*args, "--lang", "xx"])
    assert english.exit_code in (0, 1), english.output
    assert unknown.exit_code == english.exit_code, unknown.output
    assert unknown.stderr.count("warning: --lang xx") == 1
    assert "policy's labels (de, en, zh)" in unknown.stderr and "English is used" in unknown.stderr
    for known in ("de", "zh", "zh-CN", "en"):          # the policy's or the phrasebook's
        result = CliRunner().invoke(cli, [*args, "--lang", known])
        assert "warning" not in result.stderr, (known, result.stderr)
