"""Reading a JSON Lines audit log line by line: plain, gzip, xz or bzip2-compressed.

Logs are often archived compressed; ``verify``, ``show`` and ``report`` read every kind
the same way, telling them apart by their magic bytes, not the name. A zstd log is
refused with an error saying so: Python's standard library cannot read zstd before
3.14, and calling such a log "not valid JSON" would be a false tamper alert.

Lines are read with a bound (:data:`MAX_LINE`): a damaged file can hold one huge line
without a newline (a power loss with fsync off can leave hundreds of MB of NUL bytes),
and iterating a file object for lines would load all of it at once.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import IO, Final, cast

from cycleflow.errors import AuditError

GZIP_MAGIC: Final = b"\x1f\x8b"
XZ_MAGIC: Final = b"\xfd7zXZ\x00"
BZIP2_MAGIC: Final = b"BZh"
ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_MAGICS: Final = (("gzip", GZIP_MAGIC), ("xz", XZ_MAGIC), ("bzip2", BZIP2_MAGIC),
                  ("zstd", ZSTD_MAGIC))
_HEAD: Final = max(len(magic) for _, magic in _MAGICS)
#: What reading a damaged compressed log raises, besides OSError (BadGzipFile is one):
#: gzip's and bzip2's cut-short streams raise EOFError, xz's damage LZMAError.
GZIP_ERRORS: Final = (EOFError, zlib.error, lzma.LZMAError)

#: The longest line a reader loads, in bytes: far above any record the sink writes, far
#: below what a damaged file can hold. A longer line is measured in pieces, never held.
MAX_LINE: int = 16 * 1024 * 1024
_NULS: Final = re.compile(rb"\x00*")


class DamagedCompression(EOFError):
    """The compressed data of a log is damaged or cut short (an EOFError, so one of
    :data:`GZIP_ERRORS`): a bzip2 or gzip decoder says so with a bare OSError."""


@dataclass(frozen=True, slots=True)
class LongLine:
    """A line longer than the bound, read in pieces and not kept: what a reader needs to
    say what it was. ``size`` excludes the newline; ``nul_prefix`` counts the NUL bytes
    it starts with (== size: all zeros); ``ended`` is False for a last line without a
    newline; ``limit`` is the bound it exceeded."""

    size: int
    nul_prefix: int
    ended: bool
    limit: int


def compression(head: bytes) -> str | None:
    """The compression format a file starting with ``head`` is in (``gzip``, ``xz``,
    ``bzip2``, ``zstd``), or None for a plain file."""
    for name, magic in _MAGICS:
        if head.startswith(magic):
            return name
    return None


@contextlib.contextmanager
def open_log(path: str, buffering: int = -1) -> Iterator[IO[bytes]]:
    """``path`` opened for reading bytes, decompressed if it is gzip, xz or bzip2; read it
    with :func:`read_lines`. AuditError for a zstd log, which cannot be read here."""
    with open(path, "rb", buffering=buffering) as fh:
        kind = compression(fh.read(_HEAD))
        fh.seek(0)
        if kind is None:
            yield fh
            return
        if kind == "zstd":
            raise AuditError(
                f"audit log {path} is compressed with zstd, which cycleflow does not read: "
                f"decompress it first (zstd -d {path}) and give the decompressed file"
            )
        with _decompressing(kind, fh) as reader:
            try:
                yield reader
            except OSError as exc:
                if exc.errno is not None:  # the file itself could not be read: say that
                    raise
                raise DamagedCompression(f"{kind}: {exc}") from exc


@contextlib.contextmanager
def reading_log(path: str, hint: str = "") -> Iterator[IO[bytes]]:
    """:func:`open_log` for the audit readers: a file that cannot be read, or a compressed
    one that is damaged or cut short, is an AuditError naming the log (``hint`` is added
    to the damaged-archive message)."""
    try:
        with open_log(path) as fh:
            yield fh
    except OSError as exc:
        raise AuditError(f"cannot read audit log {path}: {exc.strerror or exc}") from exc
    except GZIP_ERRORS as exc:
        raise AuditError(
            f"cannot read compressed audit log {path}: the compressed data is damaged or cut "
            f"short ({exc or type(exc).__name__}){hint}"
        ) from exc


def _decompressing(kind: str, fh: IO[bytes]) -> IO[bytes]:
    """A reader of ``fh``'s decompressed bytes (it reads like a binary file)."""
    if kind == "gzip":
        return cast(IO[bytes], gzip.GzipFile(fileobj=fh, mode="rb"))
    if kind == "xz":
        return cast(IO[bytes], lzma.LZMAFile(fh, mode="rb"))
    return cast(IO[bytes], bz2.BZ2File(fh, mode="rb"))


def read_to_end(fh: IO[bytes]) -> None:
    """Decompress the rest of ``fh`` (in pieces, discarding them) when it is a compressed
    log, so that damage raises: gzip checks its data only at the end, and a flipped byte
    decodes to garbage first, which a chain check would take for an edited record.
    A plain file is left alone."""
    if isinstance(fh, (gzip.GzipFile, lzma.LZMAFile, bz2.BZ2File)):
        while fh.read(1 << 20):
            pass


def read_lines(fh: IO[bytes]) -> Iterator[bytes | LongLine]:
    """The lines of ``fh``, each with its newline (the last one may lack it), holding at
    most :data:`MAX_LINE` bytes at a time: a longer line comes as a :class:`LongLine`."""
    limit = MAX_LINE
    readline = fh.readline
    for line in iter(partial(readline, limit), b""):
        if len(line) < limit or line.endswith(b"\n"):
            yield line
            continue
        more = readline(limit)
        if not more:  # the file ends exactly at the bound: an ordinary last line
            yield line
            return
        size = len(line)
        nuls = _nul_run(line)
        leading = nuls == size  # the NUL bytes may go on in the next piece
        del line
        ended = False
        while more:
            ended = more.endswith(b"\n")
            length = len(more) - ended
            if leading:
                run = _nul_run(more)
                nuls += run
                leading = run == length
            size += length
            if ended:
                break
            more = readline(limit)
        yield LongLine(size, nuls, ended, limit)


def _nul_run(data: bytes) -> int:
    """How many NUL bytes ``data`` starts with (without copying it)."""
    match = _NULS.match(data)
    return match.end() if match else 0


def is_compressed(path: str) -> bool:
    """True when ``path`` starts with the magic bytes of gzip, xz, bzip2 or zstd (False if
    it cannot be read): a sink must not append plain lines to it."""
    try:
        with open(path, "rb") as fh:
            return compression(fh.read(_HEAD)) is not None
    except OSError:
        return False


__all__ = ["BZIP2_MAGIC", "GZIP_ERRORS", "GZIP_MAGIC", "MAX_LINE", "XZ_MAGIC", "ZSTD_MAGIC",
           "DamagedCompression", "LongLine", "compression", "is_compressed", "open_log",
           "reading_log",
           "read_lines", "read_to_end"]
