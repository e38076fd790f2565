"""What a scan would cost, before a credit is spent: walk the folders, decide for each new
file what would be sent (``renditions.plan``, from its header: an image, a RAW's JPEG, a
video's frames, a RAW that shares its JPEG's result), and price it with the API's table,
per folder's options.

A file already done (same size and mtime, tagged under the current options) costs nothing;
nor does one whose bytes were tagged before under these options (the results cache), which
is found by hashing only files the table does not already vouch for, and only when the cache
holds anything at all. Copies cost once, as the scan pays them (one upload per content, the
copies waiting for its result): of the files left to upload, those of a size no other has
are distinct unread; the rest are hashed, and each (content, rendition, options) is priced
once. ``quick`` (the scan's own check against its confirmation threshold)
reads no file: every image is one, a video its ``max_frames``, a RAW beside a JPEG of its
stem nothing. A file the user untagged costs nothing (a scan leaves it alone); with
``refresh`` (`scan --refresh`), every file tagged before goes to the API again, past the
cache.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from ..api.options import RequestOptions
from ..config import FolderSettings
from ..jobtable import JobTable
from ..jobtable.reports import KnownFile
from ..jobtable.transitions import REFRESH  # what `scan --refresh` asks again
from ..pipeline.scanner import walk_folder
from ..records import FileSeen, Scope, State
from ..renditions import (
    FileProblem,
    Plan,
    RenditionSettings,
    content_key,
    formats,
    hash_file,
    plan_file,
    unreadable,
)
from ..renditions import rendering as rendering_of
from ..rules.selection import Selector


@dataclass
class FolderEstimate:
    folder: str
    files: int = 0  # eligible files found
    done: int = 0  # already tagged under these options, unchanged
    untagged: int = 0  # the user took our tags back: left alone
    other_options: int = 0  # tagged under other options: left as they are (scan --retag)
    failed: int = 0  # failed before, unchanged since: `retry` sends them again
    refreshed: int = 0  # tagged before, asked of the API again (--refresh)
    cached: int = 0  # same bytes tagged before: served from the results cache
    to_upload: int = 0
    copies: int = 0  # the same bytes as a file uploaded in this scan: its result, no charge
    paired: int = 0  # RAWs that take their JPEG's result
    skipped: int = 0  # files that would not go (their reason shows in the scan)
    images: int = 0  # images the API charges for: a video's frames each count
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
            "untagged": sum(f.untagged for f in self.folders),
            "other_options": sum(f.other_options for f in self.folders),
            "failed": sum(f.failed for f in self.folders),
            "refreshed": sum(f.refreshed for f in self.folders),
            "cached": sum(f.cached for f in self.folders),
            "to_upload": sum(f.to_upload for f in self.folders),
            "copies": sum(f.copies for f in self.folders),
            "paired": sum(f.paired for f in self.folders),
            "skipped": sum(f.skipped for f in self.folders),
            "images": sum(f.images for f in self.folders),
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
    renditions: RenditionSettings | None = None,
    *,
    hash_files: bool = True,
    refresh: bool = False,
    retag: bool = False,
    retag_on_change: bool = True,
) -> Estimate:
    """Given the folders to scan, count and price what a scan would upload (``refresh``:
    what a scan that asks the API again for every file tagged before would; ``retag``: one
    that tags again files tagged under other options, and untagged ones)."""
    settings = renditions or RenditionSettings()
    result = Estimate()
    uploads: list[_Upload] = []  # priced once all are known: copies cost once
    use_cache = hash_files and table.results.any()
    for folder in folders:
        if not folder.path.is_dir():
            continue
        root = str(folder.path)
        options = options_for(root)
        per_image = options.credits_per_image()
        entry = FolderEstimate(
            root, credits_per_image=per_image, default_backends=not options.backends
        )
        for _, files in walk_folder(folder, scopes, selector):
            entry.files += len(files)
            known = table.reports.known(root, [f.relpath for f in files])
            eligible = {os.path.join(root, f.relpath) for f in files}
            for seen in files:
                path = os.path.join(root, seen.relpath)
                stored = known.get(seen.relpath)
                again = refresh and stored is not None and stored.state in REFRESH.sources
                standing = None if again else _standing(stored, seen, options, retag,
                                                        retag_on_change)  # fmt: skip
                if standing is not None:
                    setattr(entry, standing, getattr(entry, standing) + 1)
                    continue
                images, decided = _images(path, settings, eligible, hash_files)
                entry.refreshed += again
                if images is None:
                    entry.skipped += 1
                elif images == 0:
                    entry.paired += 1
                else:
                    ask = use_cache and not again
                    key = _key(path, decided, settings) if ask and decided else None
                    if key is not None and table.results.cached([key], options):
                        entry.cached += 1  # the results cache holds what it would be sent as
                    else:
                        upload = _Upload(entry, path, seen.size, images, decided, options, key)
                        uploads.append(upload)
        result.folders.append(entry)
    _count_once(uploads, settings)
    for entry in result.folders:
        entry.credits = entry.images * entry.credits_per_image
    return result


@dataclass(frozen=True)
class _Upload:
    entry: FolderEstimate
    path: str
    size: int
    images: int
    decided: Plan | None  # None: not read (the scan's quick check)
    options: RequestOptions
    key: str | None = None  # its content key, if it was hashed already (for the cache)


def _count_once(uploads: list[_Upload], settings: RenditionSettings) -> None:
    """Count each file to upload, a copy of one counted already (the same bytes, sent the
    same way, under the same options) as a copy: the scan uploads a content once. Only
    files that share their size with another are read to tell."""
    sizes = Counter(upload.size for upload in uploads)
    counted: set[tuple[str, str]] = set()
    for upload in uploads:
        key = upload.key
        if key is None and upload.decided is not None and sizes[upload.size] > 1:
            key = _key(upload.path, upload.decided, settings)
        if key is not None:  # None: unread, or unreadable (the scan says what became of it)
            if (upload.options.fingerprint(), key) in counted:
                upload.entry.copies += 1
                continue
            counted.add((upload.options.fingerprint(), key))
        upload.entry.to_upload += 1
        upload.entry.images += upload.images


def _standing(
    known: KnownFile | None,
    seen: FileSeen,
    options: RequestOptions,
    retag: bool,
    retag_on_change: bool,
) -> str | None:
    """Why a scan would not send a file the table knows, as the count it goes in (``done``,
    ``untagged``, ``other_options``, ``failed``, ``skipped``); None when the scan looks at
    it (and it is priced). As intake and the scan decide: a file unchanged since it was
    tagged, failed or skipped is not queued again; one changed since it was tagged is, if
    ``watch.retag_on_change``; results in review or on their way are paid for."""
    if known is None:
        return None
    current = (known.size, known.mtime_ns) == (seen.size, seen.mtime_ns)
    match known.state:
        case State.DONE if current or not retag_on_change:
            if known.options_fp == options.fingerprint():
                return "done"
            return None if retag else "other_options"
        case State.UNTAGGED:
            return None if retag else "untagged"
        case State.REVIEW if current:
            return "done"  # paid for: the result waits for `apply`
        case State.SUBMITTED | State.WRITING:
            return "done"  # paid for: the result is on its way
        case State.FAILED | State.SKIPPED if current:
            return str(known.state)
    return None


def _images(
    path: str, settings: RenditionSettings, eligible: set[str], exact: bool
) -> tuple[int | None, Plan | None]:
    """The images one file would be charged for (0: it shares a result the scan pays for
    anyway; None: it would not go), with how it would go when that was read (``exact``)."""
    if not exact:
        ext = formats.extension(path)
        if ext in formats.VIDEO_EXTENSIONS:
            return settings.max_frames, None
        stem = os.path.splitext(path)[0]
        pairs = settings.pairs == "share" and ext in formats.RAW_EXTENSIONS
        if pairs and any(stem + pair in eligible for pair in formats.PAIR_EXTENSIONS):
            return 0, None
        return 1, None
    try:
        decided = plan_file(path, settings)
    except FileProblem:
        return None, None
    if unreadable(path, decided) is not None:  # as the scan finds it, without decoding
        return None, None
    if decided.how == "pair" and decided.pair is not None:
        if decided.pair in eligible:
            return 0, decided  # its JPEG is counted (or done, or cached): one price for both
        try:
            return plan_file(decided.pair, settings).images, decided
        except FileProblem:
            return 1, decided  # the RAW goes on its own
    return decided.images, decided


def _key(path: str, decided: Plan, settings: RenditionSettings) -> str | None:
    """The content key the scan would send this file under (its hash, and how it is
    rendered), or None when it cannot be read. Each file is hashed once at most."""
    try:
        sha256 = hash_file(path).sha256
    except FileProblem:
        return None
    return content_key(sha256, rendering_of(decided, settings))
