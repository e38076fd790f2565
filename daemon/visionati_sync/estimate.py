"""What a scan would cost, before a credit is spent: walk the folders, count what is new, and
price it with the API's table, per folder's options.

A file already done (same size and mtime, tagged under the current options) costs nothing;
nor does one whose bytes were tagged before under these options (the results cache), which
is found by hashing only files the table does not already vouch for, and only when the cache
holds anything at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from . import catalog
from .config import FolderSettings
from .jobtable import JobTable
from .options import RequestOptions
from .payload import FileProblem, check_file
from .records import FileSeen, Scope
from .scanner import walk_folder
from .selection import Selector


@dataclass
class FolderEstimate:
    folder: str
    files: int = 0  # eligible files found
    done: int = 0  # already tagged under these options, unchanged
    cached: int = 0  # same bytes tagged before: served from the results cache
    to_upload: int = 0
    credits_per_image: int = 0
    credits: int = 0
    default_backends: bool = False


@dataclass
class Estimate:
    folders: list[FolderEstimate] = field(default_factory=list)

    @property
    def files(self) -> int:
        return sum(f.files for f in self.folders)

    @property
    def credits(self) -> int:
        return sum(f.credits for f in self.folders)

    def as_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "done": sum(f.done for f in self.folders),
            "cached": sum(f.cached for f in self.folders),
            "to_upload": sum(f.to_upload for f in self.folders),
            "credits": self.credits,
            "dollars": round(self.credits / 100, 2),
            "assumes_default_backends": any(f.default_backends for f in self.folders),
            "folders": [asdict(f) for f in self.folders],
        }


def estimate(
    table: JobTable,
    folders: Sequence[FolderSettings],
    scopes: Sequence[Scope],
    selector: Selector,
    options_for: Callable[[str], RequestOptions],
    *,
    hash_files: bool = True,
) -> Estimate:
    """Given the folders to scan, count and price what a scan would upload."""
    result = Estimate()
    use_cache = hash_files and table.requests.has_results()
    for folder in folders:
        if not folder.path.is_dir():
            continue
        root = str(folder.path)
        options = options_for(root)
        per_image = catalog.credits_per_image(options.backends, options.features, options.prompt)
        entry = FolderEstimate(
            root, credits_per_image=per_image, default_backends=not options.backends
        )
        for _, files in walk_folder(folder, scopes, selector):
            entry.files += len(files)
            current = table.reports.done_under(root, [f.relpath for f in files], options)
            unknown = [f for f in files if current.get(f.relpath) != (f.size, f.mtime_ns)]
            entry.done += len(files) - len(unknown)
            cached = _cached(table, root, unknown, options) if use_cache else 0
            entry.cached += cached
            entry.to_upload += len(unknown) - cached
        entry.credits = entry.to_upload * per_image
        result.folders.append(entry)
    return result


def _cached(table: JobTable, root: str, files: list[FileSeen], options: RequestOptions) -> int:
    """How many of these files' bytes the results cache already holds (hashing each)."""
    hashes = []
    for seen in files:
        try:
            hashes.append(check_file(f"{root}/{seen.relpath}").sha256)
        except FileProblem:
            continue
    known = table.requests.cached_results(hashes, options)
    return sum(1 for sha in hashes if sha in known)
