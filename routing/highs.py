"""HiGHS instances for the planners' LPs and MIPs (allocation, set partitioning, column search):
silent, and on one thread, as the server's solver processes already use every core.

highspy prints its banner ("Running HiGHS ...") to standard output the first time a process
constructs a ``Highs``, before ``output_flag`` can be set; forked processes (the wave planner's
column search) inherit whether it was printed. So one ``Highs`` is constructed here, at import,
with file descriptor 1 pointed at the null device: nothing a request makes HiGHS do reaches the
server's standard output.
"""

from __future__ import annotations

import os
import sys

import highspy


def _construct_silently() -> None:
    """Construct one ``Highs`` with standard output discarded (meant for import time, when no
    other thread writes to it)."""
    if sys.stdout is not None:  # None without a console (pythonw, some daemons)
        sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no standard output to protect
        highspy.Highs()  # type: ignore[no-untyped-call]
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


_construct_silently()


def quiet_highs() -> highspy.Highs:
    """A HiGHS instance that prints nothing and solves on one thread."""
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    return highs
