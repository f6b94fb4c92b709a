"""Reading a JSON Lines audit log line by line, plain or gzip-compressed.

Logs are often archived compressed; ``verify``, ``show`` and ``report`` read both
kinds the same way, telling them apart by the gzip magic bytes, not the name.
"""

from __future__ import annotations

import contextlib
import gzip
import zlib
from collections.abc import Iterator
from typing import IO, Final, cast

GZIP_MAGIC: Final = b"\x1f\x8b"
#: What reading a damaged compressed log raises, besides OSError (BadGzipFile is one).
GZIP_ERRORS: Final = (EOFError, zlib.error)


@contextlib.contextmanager
def open_log(path: str, buffering: int = -1) -> Iterator[IO[bytes]]:
    """``path`` opened for reading bytes, decompressed if it is gzip; iterate it for lines."""
    with open(path, "rb", buffering=buffering) as fh:
        gzipped = fh.read(2) == GZIP_MAGIC
        fh.seek(0)
        if not gzipped:
            yield fh
            return
        with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
            yield cast(IO[bytes], gz)  # a GzipFile reads like a binary file


def is_compressed(path: str) -> bool:
    """True when ``path`` starts with the gzip magic bytes (False if it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == GZIP_MAGIC
    except OSError:
        return False


__all__ = ["GZIP_ERRORS", "GZIP_MAGIC", "is_compressed", "open_log"]
