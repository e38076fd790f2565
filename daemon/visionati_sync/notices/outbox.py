"""Notices waiting to be sent, on local disk, so that a restart loses none.

One folder per notifier in ``<state directory>/notices``; the writer adds one small file per
batch of written files to each (temporary name, then rename: a file is whole or absent),
named by the time it was written, so the oldest goes first and the debounce can read how
quiet things have been from the names alone. A notifier sends a batch while holding its
folder's lock (``flock``), and removes the batch's files once it has been taken: a scan and
a daemon on one machine never send the same notice twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..log import get_logger

log = get_logger("outbox")

_sequence = itertools.count()


@dataclass(frozen=True)
class Written:
    """One file whose tags changed: every path written for it (its sidecars, and the file
    itself when the tags went inside), and which of those sidecars are new."""

    file: str
    written: tuple[str, ...]
    created: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "written": list(self.written), "created": list(self.created)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Written:
        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key, [])
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        return cls(str(data["file"]), strings("written"), strings("created"))


@dataclass
class Batch:
    """What one notification carries: each file once (two writes of one file merged), and
    the outbox files it came from, removed when it has been sent."""

    entries: list[Written] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)

    def add(self, written: Sequence[Written]) -> None:
        by_file = {entry.file: entry for entry in self.entries}
        for entry in written:
            before = by_file.get(entry.file)
            if before is not None:
                entry = Written(
                    entry.file,
                    tuple(dict.fromkeys(before.written + entry.written)),
                    tuple(dict.fromkeys(before.created + entry.created)),
                )
            by_file[entry.file] = entry
        self.entries = list(by_file.values())


class Outbox:
    def __init__(self, root: Path, names: Sequence[str]) -> None:
        self.root = root
        self.names = list(names)  # the notifiers configured: each gets every notice

    def put(self, written: Sequence[Written]) -> None:
        """Given files just written, leave a notice of them for every notifier. A notice
        that cannot be saved (a full disk) is said and dropped: tagging goes on."""
        if not written or not self.names:
            return
        body = json.dumps([entry.as_dict() for entry in written]).encode()
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(_sequence):06d}.json"
        for notifier in self.names:
            folder = self.root / notifier
            try:
                folder.mkdir(parents=True, exist_ok=True)
                temporary = folder / f".{name}.tmp"
                temporary.write_bytes(body)
                temporary.rename(folder / name)
            except OSError as exc:
                log.error("notice not saved; this notifier will not hear of these files",
                          notifier=notifier, files=len(written), error=str(exc))  # fmt: skip

    def waiting(self, notifier: str) -> list[Path]:
        """The notices waiting for a notifier, oldest first."""
        try:
            names = sorted(p for p in os.listdir(self.root / notifier) if p.endswith(".json"))
        except FileNotFoundError:
            return []
        return [self.root / notifier / n for n in names if not n.startswith(".")]

    @staticmethod
    def written_at(path: Path) -> float:
        """When a notice was left (seconds since the epoch), from its name."""
        return int(path.name.split("-", 1)[0]) / 1e9

    @contextlib.contextmanager
    def sending(self, notifier: str, limit: int) -> Iterator[Batch]:
        """Hold a notifier's folder while a batch of up to ``limit`` files (whole notices,
        at least one) is sent; the caller calls ``taken`` once the notifier has it."""
        folder = self.root / notifier
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            batch = Batch()
            for path in self.waiting(notifier):
                if batch.entries and len(batch.entries) >= limit:
                    break
                try:
                    data = json.loads(path.read_bytes())
                    batch.add([Written.from_dict(item) for item in data])
                except FileNotFoundError:
                    continue  # sent by another process just before we held the lock
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("unreadable notice dropped", path=str(path), error=str(exc))
                    path.unlink(missing_ok=True)
                    continue
                batch.sources.append(path)
            yield batch

    @staticmethod
    def taken(batch: Batch) -> None:
        """A batch was sent (or can never be): its notices go."""
        for path in batch.sources:
            path.unlink(missing_ok=True)
