"""Pieces every command shares: exit codes, loading the engine, reading actors and deals."""

from __future__ import annotations

import codecs
import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, BinaryIO, TypeVar

import click
import orjson
import yaml

from cycleflow.errors import CycleflowError, PolicyError, Problem, UsageError
from cycleflow.jsonsafe import scrub

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_POLICY = 3
EXIT_INTERNAL = 70


def echo_problems(problems: Iterable[Problem]) -> None:
    """Print located problems to stderr, one ``file:line:col: code: message`` per line."""
    for p in problems:
        click.echo(p.render(), err=True)


def write_json_stdout(obj: Any) -> None:
    """Print one JSON object (UTF-8, readable, keys in the given order).

    A value orjson refuses (a lone surrogate from a YAML escape, a huge integer) is
    written as reading JSON would give it back, never as an internal error.
    """
    try:
        data = orjson.dumps(obj, option=orjson.OPT_INDENT_2, default=str)
    except TypeError:
        data = orjson.dumps(scrub(obj), option=orjson.OPT_INDENT_2, default=str)
    sys.stdout.write(data.decode() + "\n")


@contextlib.contextmanager
def open_output(path: str | None, inputs: Iterable[str] = ()) -> Iterator[BinaryIO]:
    """Where a report goes: stdout, or ``path`` replaced in one step once it is complete.

    A path that is not a regular file (``/dev/null``, a FIFO) is written through, never
    renamed over; a symlink is followed, so its target gets the report. A run that
    fails leaves no half-written report behind. ``inputs`` are refused as the output.
    """
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    if not path:
        raise UsageError("-o/--output needs a file name")
    real = os.path.realpath(path)
    for source in inputs:
        if source != "-" and os.path.exists(source) and os.path.exists(real) and (
            os.path.samefile(source, real)
        ):
            raise UsageError(f"-o {path} is also an input: the report would overwrite it")
    if os.path.exists(real) and not os.path.isfile(real):
        if os.path.isdir(real):
            raise UsageError(f"-o {path} is a directory; name a file")
        with open(real, "wb") as fh:  # a device or a pipe: write through it
            yield fh
        return
    tmp = f"{real}.partial"
    try:
        with open(tmp, "wb") as fh:
            yield fh
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def parse_actor(arg: str | None) -> dict[str, Any] | None:
    """``--actor``: inline JSON or a path to a JSON file holding ``{"id", "roles"}``."""
    if arg is None:
        return None
    text = arg
    if not arg.lstrip().startswith("{"):
        if os.path.isdir(arg):
            raise UsageError(f"--actor: {arg} is a directory, not a JSON file")
        if not os.path.isfile(arg):
            try:
                json.loads(arg)
            except ValueError:
                raise UsageError(f"--actor: not JSON and no such file: {arg}") from None
            raise UsageError('--actor must be a JSON object such as {"id": "ann", "roles": '
                             f'["sales_rep"]}}, not {arg}')
        try:
            with open(arg, encoding="utf-8-sig") as fh:  # a BOM is as welcome as in policies
                text = fh.read()
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"--actor: cannot read {arg}: {err}") from None
    try:
        actor = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise UsageError(f"--actor is not valid JSON: {err}") from None
    if not isinstance(actor, dict) or "id" not in actor:
        raise UsageError('--actor must be a JSON object with at least "id" (and "roles")')
    from cycleflow.decide.engine import resolve_actor  # the engine's own check, loaded late

    try:
        resolve_actor(actor)
    except UsageError as err:
        raise UsageError(f"--actor: {err}") from None
    actor.setdefault("roles", [])
    return actor


def read_single_deal(path: str) -> dict[str, Any]:
    """One deal from a JSON or YAML file, or '-' for stdin."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, "rb") as fh:
                text = _deal_text(fh.read(), path)
    except FileNotFoundError:
        raise UsageError(f"--deal: no such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"--deal: {path} is a directory, not a deal file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"--deal: cannot read {path}: {err}") from None
    try:
        deal = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise UsageError(f"--deal: {path} nests too deeply to be a deal") from None
    except ValueError as json_err:  # JSONDecodeError, NaN, or a number of over 4,300 digits
        deal = _yaml_deal(text, path, json_err)
    if not isinstance(deal, dict):
        raise UsageError(f"--deal: {path} must hold one deal object")
    return deal


def _yaml_deal(text: str, path: str, json_err: ValueError) -> Any:
    """A deal file that is not JSON, read as YAML as `check` reads it: bounded depth and
    size, so a 1 KB alias bomb is refused instead of eating 2 GB."""
    from cycleflow.batch.readers import yaml_records

    try:
        items = yaml_records(text, path)
    except yaml.YAMLError as err:
        raise UsageError(_unreadable_deal(path, text, json_err, err)) from None
    if len(items) != 1 or str(items[0].error).startswith("expected an object"):
        raise UsageError(f"--deal: {path} must hold one deal object")
    if items[0].record is None:
        raise UsageError(f"--deal: {path} cannot be read as a deal: {items[0].error}")
    return items[0].record


def _deal_text(raw: bytes, path: str) -> str:
    """A deal file's text: UTF-8 (a BOM is dropped), or a UsageError saying where it is not."""
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        before = body[: err.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        advice = ("the file looks like UTF-16; save it with UTF-8 encoding"
                  if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
                  else "save the file with UTF-8 encoding")
        raise UsageError(f"--deal: {path}:{line}:{column}: the file is not valid UTF-8 "
                         f"(byte 0x{body[err.start]:02X}); {advice}") from None


def _unreadable_deal(path: str, text: str, json_err: ValueError, yaml_err: Exception) -> str:
    """Where a deal file that is neither JSON nor YAML first goes wrong, in one line.

    A file that starts like JSON gets the JSON parser's place and reason; any other the
    YAML parser's.
    """
    if text.lstrip().startswith(("{", "[")) and isinstance(json_err, json.JSONDecodeError):
        return (f"--deal: {path}:{json_err.lineno}:{json_err.colno}: not valid JSON: "
                f"{json_err.msg}")
    mark = getattr(yaml_err, "problem_mark", None)
    problem = getattr(yaml_err, "problem", None) or str(yaml_err).splitlines()[0]
    if mark is not None:
        return f"--deal: {path}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {problem}"
    return f"--deal: {path} is neither JSON nor YAML: {problem}"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a deal")


@contextlib.contextmanager
def load_engine(
    policy_path: str, *, lang: str = "en", audit_spec: str | None = None, audit_fsync: bool = False
) -> Iterator[Any]:
    """Load the policy and build an engine, with an audit sink when asked; closes the sink."""
    from cycleflow.api import load_policy
    from cycleflow.decide.engine import Engine

    if audit_fsync and audit_spec is None:
        raise UsageError("--audit-fsync needs --audit FILE: there is no log to make durable")
    policy = load_policy(policy_path)
    sink = None
    if audit_spec is not None:
        from cycleflow.audit import open_sink

        sink = open_sink(audit_spec, fsync=audit_fsync)
    from cycleflow.cli.toolkit_cmd import warn_unknown_lang

    warn_unknown_lang(policy, lang)
    try:
        yield Engine(policy, audit=sink, lang=lang)
    finally:
        if sink is not None:
            sink.close()


def policy_info(policy: Any) -> Mapping[str, Any]:
    """The policy's identity as reports print it."""
    return {
        "id": policy.id,
        "version": policy.version,
        "sha256": policy.sha256,
        "path": policy.path,
    }


F = TypeVar("F", bound=Callable[..., Any])


def lang_option(what: str) -> Callable[[F], F]:
    """``--lang``, the same on every command: any language code the policy's labels use;
    cycleflow's own words exist in en and zh, English stands in for the others."""
    option: Callable[[F], F] = click.option(
        "--lang",
        default="en",
        show_default=True,
        help=f"Language of {what}: a code the policy's labels use (en, zh, ...).",
    )
    return option


def guarded(policy_exit: int = EXIT_POLICY, name: str = "cycleflow") -> Callable[[F], F]:
    """Run a command so that every error becomes a message and an exit code, never a traceback.

    A policy that does not load exits ``policy_exit``; bad input and unreadable or
    unwritable files exit 2; anything unexpected exits 70. ``name`` starts each message.
    """

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except PolicyError as err:
                echo_problems(err.problems)
                sys.exit(policy_exit)
            except (UsageError, CycleflowError) as err:
                click.echo(f"{name}: error: {err}", err=True)
                sys.exit(EXIT_USAGE)
            except (click.exceptions.Exit, click.ClickException, SystemExit):
                raise
            except BrokenPipeError:
                sys.exit(0)
            except OSError as err:
                click.echo(f"{name}: error: {err}", err=True)
                sys.exit(EXIT_USAGE)
            except KeyboardInterrupt:
                click.echo(f"{name}: interrupted", err=True)
                # every `with` block (output file, audit sink, worker pool) has unwound by
                # now; exit at once, since the interpreter's own shutdown would join a worker
                # pool's manager thread still blocked on its dead workers' pipes (a hang)
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(130)
            except Exception as err:  # the last line of defence: report, never a traceback
                if os.environ.get("CYCLEFLOW_DEBUG"):
                    raise
                click.echo(
                    f"{name}: internal error: {type(err).__name__}: {err} "
                    "(set CYCLEFLOW_DEBUG=1 for details and please report it)",
                    err=True,
                )
                sys.exit(EXIT_INTERNAL)

        return inner  # type: ignore[return-value]

    return wrap
