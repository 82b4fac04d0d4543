"""Imported only inside the sweep's forkserver (redit.sweep preloads it there): the forkserver exits
when the sweep dies, even after `kill -9` (Linux PR_SET_PDEATHSIG; its parent is the sweep). Runs
forked from it do not inherit this; redit.sweep watches the sweep from each run instead."""

import ctypes
import signal

try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
except (OSError, AttributeError):  # not Linux: the forkserver outlives a killed sweep, idle
    pass
