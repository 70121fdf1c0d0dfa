"""Reading a child process's output line by line with a deadline that holds even when the
child goes silent: select and os.read on the pipe, never a blocking readline."""

from __future__ import annotations

import os
import select
import subprocess
import time
import weakref
from typing import IO

# Bytes read past the line a caller waited for, kept for its next wait (per pipe).
_UNREAD: weakref.WeakKeyDictionary[IO[str], bytes] = weakref.WeakKeyDictionary()


def lines_until(pipe: IO[str] | None, needle: str, timeout: float, what: str) -> list[str]:
    """The lines of ``pipe`` up to the one holding ``needle``; AssertionError naming ``what``
    and all it said if the deadline passes or the pipe closes first."""
    assert pipe is not None
    fd = pipe.fileno()
    buf = _UNREAD.pop(pipe, b"")
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            lines.append(line.decode(errors="replace") + "\n")
            if needle in lines[-1]:
                _UNREAD[pipe] = buf
                return lines
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 65536)
        if not chunk:  # the other end closed: the process has exited
            break
        buf += chunk
    _UNREAD[pipe] = buf
    said = "".join(lines) + buf.decode(errors="replace")
    raise AssertionError(f"{needle!r} not seen within {timeout:g} s; {what} said:\n{said}")


def unread(pipe: IO[str] | None) -> str:
    """What ``lines_until`` read from ``pipe`` but returned to no one (for a final report)."""
    return _UNREAD.pop(pipe, b"").decode(errors="replace") if pipe is not None else ""


def communicate(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """``proc.communicate`` with what ``lines_until`` had read ahead put back in front."""
    out, err = proc.communicate(timeout=timeout)
    return unread(proc.stdout) + (out or ""), unread(proc.stderr) + (err or "")
