"""Pieces every command shares: exit codes, loading the engine, reading actors and deals."""

from __future__ import annotations

import codecs
import contextlib
import errno
import functools
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, BinaryIO, Final, NoReturn, TypeVar

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
    """Where a report goes: stdout (no path, or ``-``), or ``path`` replaced in one step
    once it is complete.

    A path that is not a regular file (``/dev/null``, a FIFO) is written through, never
    renamed over; a symlink is followed, so its target gets the report. A run that
    fails leaves no half-written report behind. A report that would overwrite an input,
    or land where the next run reads deals, is refused (see :func:`_refuse_inputs`).
    """
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    if not path:
        raise UsageError("-o/--output needs a file name")
    real = os.path.realpath(path)
    _refuse_inputs(path, real, list(inputs))
    if os.path.exists(real) and not os.path.isfile(real):
        if os.path.isdir(real):
            raise UsageError(f"-o {path} is a directory; name a file")
        with _report_errors(path), open(real, "wb") as fh:  # a device or a pipe: write through
            yield fh
        return
    tmp = f"{real}.partial"
    try:
        with _report_errors(path), open(tmp, "wb") as fh:
            yield fh
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _report_errors(path: str) -> Iterator[None]:
    """An OSError opening or writing the report, as an error naming the file the user gave
    (not its ``.partial`` twin) and what to do; a full disk keeps the previous report."""
    try:
        yield
    except OSError as err:
        if isinstance(err, BrokenPipeError) or (
                err.filename is not None and not str(err.filename).startswith(
                    os.path.realpath(path))):
            raise  # not the report's own file: an input's, reported as such
        folder = os.path.dirname(path) or "."
        if isinstance(err, FileNotFoundError) and not os.path.isdir(folder):
            why = f"the folder {folder} does not exist"
        elif err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            why = f"{err.strerror} (an earlier report at {path}, if any, is kept)"
        else:
            why = err.strerror or str(err)
        raise UsageError(f"cannot write report {path}: {why}") from err


def _refuse_inputs(path: str, real: str, inputs: list[str]) -> None:
    """Refuse a report that would overwrite an input (a file named, a file inside an input
    folder, the file behind standard input), or be read as deals by the next run over
    the same folder (``check crm -o crm/verdicts.jsonl`` judged its last report)."""
    from cycleflow.batch.readers import detect_format, iter_files

    exists = os.path.exists(real)
    for source in inputs:
        if source == "-":
            if exists and _same_as_stdin(real):
                raise UsageError(f"-o {path} is standard input: the report would overwrite "
                                 "the records being read")
            continue
        if not os.path.exists(source):
            continue
        if os.path.isdir(source):
            folder = os.path.realpath(source)
            name = os.path.basename(real)
            if (os.path.commonpath([folder, real]) == folder and not name.startswith(".")
                    and detect_format(name) is not None):
                raise UsageError(
                    f"-o {path} is inside the input folder {source}: the next run over it "
                    f"would read the report as deal records; write the report outside {source}")
            files = iter_files(source) if exists else ()
            if any(os.path.samefile(f, real) for f in files if os.path.exists(f)):
                raise UsageError(f"-o {path} is also an input (in {source}): the report "
                                 "would overwrite it")
        elif exists and os.path.samefile(source, real):
            raise UsageError(f"-o {path} is also an input: the report would overwrite it")


def _same_as_stdin(real: str) -> bool:
    """Whether ``real`` is the very file standard input reads (``- < deals.jsonl``)."""
    try:
        here, there = os.fstat(sys.stdin.fileno()), os.stat(real)
    except (OSError, ValueError, AttributeError):
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


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


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:([kmgt])(i?))?b?", re.IGNORECASE)


def parse_size(text: str, option: str) -> int:
    """A size as people write it (``500000``, ``100MB``, ``1.5G``, ``64MiB``; k/M/G/T are
    powers of 1000, with ``i`` of 1024) in bytes, or a usage error naming ``option``."""
    found = _SIZE.fullmatch(text.strip().replace("_", ""))
    if found is None or not text.isascii():
        raise UsageError(f"{option} {text!r}: give a size such as 100MB, 1GiB or 500000 (bytes)")
    number, unit, binary = found.groups()
    base = 1024 if binary else 1000
    size = int(float(number) * base ** " kmgt".index((unit or " ").lower()))
    if size <= 0:
        raise UsageError(f"{option} {text!r}: the size must be more than 0 bytes")
    return size


def audit_rotate_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--audit-rotate SIZE``, the same on ``decide`` and ``check``."""
    option: Callable[..., Any] = click.option(
        "--audit-rotate",
        "audit_rotate",
        default=None,
        metavar="SIZE",
        help="Rotate the JSON Lines audit log once it holds SIZE (e.g. 100MB): it is moved "
        "aside as a segment named by its first seq and the chain continues in a fresh file.",
    )(func)
    return option


def mask_salt_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--mask-salt-env VAR``, the same on ``decide`` and ``check``."""
    option: Callable[..., Any] = click.option(
        "--mask-salt-env",
        "mask_salt_env",
        default=None,
        metavar="VAR",
        help="Mask the policy's sensitive fields as sha256:<keyed hash> (the same value "
        "masks the same way, in the report and the audit log) with the secret salt held in "
        "environment variable VAR; without it they show as ***.",
    )(func)
    return option


def mask_salt_from_env(var: str | None) -> bytes | None:
    """The masking salt held in environment variable ``var`` (``--mask-salt-env``), or None.

    Read from the environment so the secret never appears on a command line (``ps``, shell
    history, CI logs); a variable that is unset or empty is a usage error, not no salt.
    """
    if var is None:
        return None
    value = os.environ.get(var, "")
    if not value:
        raise UsageError(
            f"--mask-salt-env {var}: the environment variable {var} is "
            f"{'empty' if var in os.environ else 'not set'}; set it to the secret salt "
            "(e.g. export " + var + "=...) or leave out --mask-salt-env to mask as ***"
        )
    return os.fsencode(value)


@contextlib.contextmanager
def load_engine(
    policy_path: str,
    *,
    lang: str = "en",
    audit_spec: str | None = None,
    audit_fsync: bool = False,
    mask_salt: bytes | None = None,
    audit_rotate: str | None = None,
) -> Iterator[Any]:
    """Load the policy and build an engine, with an audit sink when asked; closes the sink.

    ``mask_salt`` makes the engine mask sensitive fields as a keyed hash (see Engine);
    ``audit_rotate`` is ``--audit-rotate``'s size.
    """
    from cycleflow.api import load_policy
    from cycleflow.decide.engine import Engine

    if audit_fsync and audit_spec is None:
        raise UsageError("--audit-fsync needs --audit FILE: there is no log to make durable")
    if audit_rotate is not None and audit_spec is None:
        raise UsageError("--audit-rotate needs --audit FILE: there is no log to rotate")
    rotate_bytes = None if audit_rotate is None else parse_size(audit_rotate, "--audit-rotate")
    policy = load_policy(policy_path)
    sink = None
    if audit_spec is not None:
        from cycleflow.audit import open_sink

        sink = open_sink(audit_spec, fsync=audit_fsync, rotate_bytes=rotate_bytes)
    from cycleflow.cli.toolkit_cmd import warn_unknown_lang

    warn_unknown_lang(policy, lang)
    try:
        yield Engine(policy, audit=sink, lang=lang, mask_salt=mask_salt)
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


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised in the main thread: a CI runner's cancel, a timeout or a
    closed terminal then unwinds every ``with`` block (worker pool, half-written report)
    as Ctrl-C does. ``signum`` gives the exit code, 128 + the signal, as a shell reports."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminated(signum: int, frame: Any) -> None:
    raise Terminated(signum)


#: The signals that end a run by unwinding it (where the platform has them).
_UNWINDING: Final = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                          if hasattr(signal, name))


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` while a command runs (main thread
    only, and only where nobody else handles them: an embedding program keeps its own)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    taken = [s for s in _UNWINDING if signal.getsignal(s) is signal.SIG_DFL]
    for signum in taken:
        signal.signal(signum, _terminated)
    try:
        yield
    finally:
        for signum in taken:
            signal.signal(signum, signal.SIG_DFL)


def _stop_now(code: int) -> NoReturn:
    """Exit at once, every ``with`` block having unwound: the interpreter's own shutdown
    would join a worker pool's manager thread still blocked on its dead workers' pipes."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(code)


def guarded(policy_exit: int = EXIT_POLICY, name: str = "cycleflow") -> Callable[[F], F]:
    """Run a command so that every error becomes a message and an exit code, never a traceback.

    A policy that does not load exits ``policy_exit``; bad input and unreadable or
    unwritable files exit 2; anything unexpected exits 70; Ctrl-C 130, SIGTERM 143 (SIGHUP
    129), and a
    reader that closed the pipe early (``| head``) 141, as a shell reports SIGPIPE: the
    report was cut short, so the exit code must not say "all compliant". ``name`` starts
    each message.
    """

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                with _sigterm_unwinds():
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
                with contextlib.suppress(OSError):  # nothing more reaches the closed pipe
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                _stop_now(141)
            except OSError as err:
                click.echo(f"{name}: error: {err}", err=True)
                sys.exit(EXIT_USAGE)
            except KeyboardInterrupt:
                click.echo(f"{name}: interrupted", err=True)
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                _stop_now(130)
            except Terminated as stop:
                click.echo(f"{name}: terminated", err=True)
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                _stop_now(128 + stop.signum)
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
