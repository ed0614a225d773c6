"""Worker processes that end with the process that started them, however it ends (a kill -9 included): on
Linux the kernel sends them SIGKILL when the parent dies (PR_SET_PDEATHSIG), and everywhere a thread in each
worker watches the parent and exits when it is gone. Used by a batch's workers (engine/tasks/batch.py), the
ingest's rating workers (engine/tasks/history.py) and those that read and rate the history's groups
(engine/tasks/forked_status.py)."""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_WATCH_SECONDS = 0.5


def can_fork() -> bool:
    """Linux, and no other thread in this process: a fork copies only the calling thread, so a lock another
    thread held (a log handler's, a database driver's) would stay held in the child for ever."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def cores() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def die_with(parent: int) -> None:
    """Make this worker end when the process ``parent`` ends."""
    if sys.platform.startswith("linux"):
        # The signal comes when the thread that started this worker ends: the batch's or the ingest's own
        # thread, which outlives the pool (each shuts its pool down before returning).
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: the watch below still ends this worker
    if not _alive(parent):  # it died before the signal was armed
        os._exit(0)
    threading.Thread(target=_watch, args=(parent, os.getppid()), name="pmo-parent-watch", daemon=True).start()


def _watch(parent: int, first_parent: int) -> None:
    """The portable fallback: exit once the parent is gone (reparented, or no such process)."""
    while True:
        time.sleep(PARENT_WATCH_SECONDS)
        if os.getppid() != first_parent or not _alive(parent):
            os._exit(0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the pid now belongs to another user's process: ours is gone
        return False
    return True
