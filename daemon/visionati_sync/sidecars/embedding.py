"""Writing tags into the user's own file, guarded: the file is copied, exiftool writes the
copy, the copy is read again (our tags there, its image data byte for byte the same as the
original's: ``renditions.pixels``), given the original's mtime and flushed, and only then
renamed over the original, if the original has not changed meanwhile. Anything else leaves
the original as it was and says why. ``sidecars.embedded`` decides what to write.

A write is two steps, ``stage`` and ``commit``, so that the job table can take the new bytes
as the result's before they appear: the watcher then sees our own write as no change.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..files import stat_signature
from ..renditions import FileProblem, hash_file
from ..renditions.pixels import image_data_hash
from ..renditions.tools import ExifTool, ToolError
from . import embedded
from .atomic import SidecarError, sync_directories
from .xmp.keywords import Keyword


@dataclass(frozen=True)
class Staged:
    """A copy of a file with the tags written in, checked, waiting to replace it."""

    image: Path
    copy: Path
    before: tuple[int, int]  # the original's size and mtime when copied
    size: int
    mtime_ns: int
    sha256: str  # the new file's own


class Embedder:
    """Writes and takes back tags inside files through one long-lived exiftool."""

    def __init__(self, backup: Path | None = None) -> None:
        self.tool = ExifTool(embedded.EXIFTOOL_CONFIG)
        self.backup = backup  # a copy of each file as it was, before its first write

    def close(self) -> None:
        self.tool.close()

    def read(self, image: Path) -> embedded.Held:
        """Given a file, what it holds of the tags we read and write."""
        out, _ = self._run(image, *embedded.READ_ARGS, "-charset", "filename=utf8", str(image))
        try:
            (reading,) = json.loads(out or "[{}]")
        except ValueError:
            raise SidecarError(f"{image}: exiftool could not read its metadata") from None
        return embedded.held(reading)

    def stage(
        self, image: Path, keywords: Sequence[Keyword], description: str | None, request: str
    ) -> Staged | None:
        """Given a file and what to add, a checked copy with it written in (None: the file
        has it all already). Raises SidecarError naming the file and the reason."""
        plan = embedded.embed(self.read(image), keywords, description, image.name, request)
        return self._staged(image, plan.args) if plan.args else None

    def stage_untag(self, image: Path) -> Staged | None:
        """Given a file, a checked copy with what we wrote taken out (None: nothing ours)."""
        args = embedded.take_back(self.read(image))
        return self._staged(image, args) if args else None

    def commit(self, staged: Staged) -> None:
        """Replace the original with the checked copy, unless it changed since it was copied;
        the copy is gone afterwards, whatever happened."""
        try:
            if stat_signature(str(staged.image)) != staged.before:
                raise SidecarError(
                    f"{staged.image}: changed while its tags were written; left as it is",
                    transient=True,
                )
            self._back_up(staged.image)
            os.replace(staged.copy, staged.image)
            sync_directories({staged.image.parent})
        finally:
            staged.copy.unlink(missing_ok=True)

    def discard(self, staged: Staged) -> None:
        staged.copy.unlink(missing_ok=True)

    def _staged(self, image: Path, args: Sequence[str]) -> Staged:
        before = stat_signature(str(image))
        if before is None:
            raise SidecarError(f"{image}: the file is gone; nothing written into it")
        copy = image.with_name(f".{image.stem}.vsync-{os.getpid()}{image.suffix}")
        try:
            shutil.copy2(image, copy)
            original = self._image_data(image)
            _, said = self._run(image, "-overwrite_original", "-P", *args, str(copy))
            if "error" in said.lower():
                raise SidecarError(f"{image}: exiftool refused: {said.strip().splitlines()[0]}")
            if self._image_data(copy) != original:
                raise SidecarError(
                    f"{image}: writing the tags would change its image data; left as it was"
                )
            stat = os.stat(image)
            os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            with open(copy, "rb") as handle:
                os.fsync(handle.fileno())
            checked = hash_file(str(copy))
        except OSError as exc:
            copy.unlink(missing_ok=True)
            raise SidecarError(f"{image}: {exc.strerror or exc}", transient=True) from None
        except (SidecarError, FileProblem):
            copy.unlink(missing_ok=True)
            raise
        return Staged(image, copy, before, checked.size, checked.mtime_ns, checked.sha256)

    def _image_data(self, path: Path) -> str:
        try:
            return image_data_hash(str(path))
        except FileProblem as exc:
            raise SidecarError(f"{path}: {exc.reason}; nothing written into it") from None

    def _run(self, image: Path, *args: str) -> tuple[str, str]:
        try:
            return self.tool.execute(*args)
        except ToolError as exc:
            raise SidecarError(f"{image}: {exc}", transient=not exc.missing) from None

    def _back_up(self, image: Path) -> None:
        """The original, once, under the backup folder at its own absolute path."""
        if self.backup is None:
            return
        target = self.backup / image.resolve().relative_to("/")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(image, target)
