"""Looking at files without being fooled: a stat that does not follow links, an open that
neither follows a link nor blocks, and what kind of file a mode is. A watched folder is
shared with other people and programs; what stands at a photo's or a sidecar's name may be
a link to someone else's file, a FIFO or a directory."""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO


class NotPlain(Exception):
    """The name is not a regular file of its own: a link, or a special file. ``str()`` says
    which, in words."""


def stat_signature(path: str) -> tuple[int, int] | None:
    """Given a path, return (size, mtime_ns), or None when it is not a regular file."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return info.st_size, info.st_mtime_ns


def describe(mode: int) -> str:
    """Given a file's mode, what kind of file it is, in words."""
    kinds = (
        (stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    )  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def open_plain(path: str | os.PathLike[str]) -> BinaryIO:
    """Given a path, open the regular file there for reading. Raises NotPlain for a symbolic
    link (never followed) or a special file (a FIFO is opened without blocking, then
    refused), FileNotFoundError when nothing is there, OSError for the rest."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotPlain("a symbolic link") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotPlain(describe(mode))
    os.set_blocking(fd, True)  # a regular file never blocks: plain reads from here on
    return os.fdopen(fd, "rb")
