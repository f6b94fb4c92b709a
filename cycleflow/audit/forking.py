"""One set of fork hooks for every open sink, instead of one per sink.

``os.register_at_fork`` has no way to unregister, so a hook per sink stayed for the
life of the process: a service opening a sink per job or tenant grew its fork
handlers (and the memory they hold) without bound, and every fork ran them all.
Here the hooks are registered once, at import, and call the sinks still alive
(a weak set: a dropped sink leaves by itself). This is the one piece of
process-wide state in the audit package, because a fork is process-wide.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Final, Protocol


class ForkAware(Protocol):
    """A sink that must act around a fork of the process that opened it."""

    def _before_fork(self) -> None: ...

    def _after_fork_in_parent(self) -> None: ...

    def _after_fork_in_child(self) -> None: ...


_LOCK: Final = threading.Lock()  # held across a fork: no thread is adding a sink meanwhile
_LIVE: Final[weakref.WeakSet[ForkAware]] = weakref.WeakSet()


def watch(sink: ForkAware) -> None:
    """Call ``sink``'s fork methods around every fork from now on, while it lives."""
    with _LOCK:
        _LIVE.add(sink)


def _before() -> None:
    _LOCK.acquire()
    for sink in list(_LIVE):
        sink._before_fork()


def _in_parent() -> None:
    try:
        for sink in list(_LIVE):
            sink._after_fork_in_parent()
    finally:
        _LOCK.release()


def _in_child() -> None:
    try:
        for sink in list(_LIVE):
            sink._after_fork_in_child()
    finally:
        _LOCK.release()  # the forking thread is the child's only thread, and holds it


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(before=_before, after_in_parent=_in_parent, after_in_child=_in_child)


__all__ = ["ForkAware", "watch"]
