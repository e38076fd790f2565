"""Where each photo manager looks for a file's tags (``sidecars.targets``): a pure decision
from a file's name and the targets named, to the sidecar names written and whether the file
itself carries the tags.

Each manager reads its own place (sources in the README, "Seeing the tags in your photo
manager"): Lightroom Classic reads a sidecar only for a proprietary RAW, named with the
extension replaced (``IMG_1.xmp``), and the metadata inside JPEG, TIFF, PSD, DNG and PNG;
Capture One names its sidecars the same way; digiKam, darktable, Immich and PhotoPrism read
``IMG_1.CR2.xmp``; Apple Photos (and Google and Windows Photos) only what is inside the file.
Several targets: the union. No target: today's ``sidecars.xmp_naming``, and the file itself
only with ``sidecars.embed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..renditions.formats import RAW_EXTENSIONS, VIDEO_EXTENSIONS, extension

Target = Literal[
    "lightroom", "capture-one", "digikam", "darktable", "immich", "photoprism", "apple-photos"
]  # fmt: skip

# What exiftool writes safely and we check after every write; never a proprietary RAW.
EMBEDDABLE = frozenset(
    {".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".dng", ".png", ".webp"}
    | {".heic", ".heif", ".hif", ".avif", ".mp4", ".m4v", ".mov", ".qt"}
)
# Lightroom keeps these files' metadata inside them; the rest it cannot write gets a sidecar
_LIGHTROOM_INSIDE = frozenset({".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".psd", ".dng", ".png"})

Naming = Literal["append", "replace"]


@dataclass(frozen=True)
class Placement:
    """Where one file's tags go: the sidecar namings, and whether the file carries them."""

    namings: tuple[Naming, ...]  # "append": IMG_1.CR2.xmp, "replace": IMG_1.xmp
    embed: bool
    exact: bool  # names as the targets want them (no target: the old, forgiving choice)
    unseen: tuple[Target, ...] = ()  # named targets that see nothing of this file


def place(name: str, targets: Sequence[Target], naming: Naming, embed: bool) -> Placement:
    """Given a file's name, the targets named (none: the old behaviour), the configured
    sidecar naming and ``sidecars.embed``, return where its tags go."""
    ext = extension(name)
    can_embed = ext in EMBEDDABLE
    if not targets:
        return Placement((naming,), embed and can_embed, exact=False)
    namings: list[Naming] = []
    inside = embed and can_embed
    unseen: list[Target] = []
    for target in targets:
        wants, carries = _wants(target, ext)
        if wants is not None and wants not in namings:
            namings.append(wants)
        inside = inside or (carries and can_embed)
        if wants is None and not (carries and can_embed):
            unseen.append(target)
    order: dict[Naming, int] = {"append": 0, "replace": 1}
    return Placement(tuple(sorted(namings, key=order.__getitem__)), inside, True, tuple(unseen))


def _wants(target: Target, ext: str) -> tuple[Naming | None, bool]:
    """One target's wish for a file of this extension: a sidecar naming (None: none it
    reads) and whether it reads the tags inside the file."""
    if target == "lightroom":
        if ext in _LIGHTROOM_INSIDE:
            return None, True
        return "replace", False  # proprietary RAW, HEIC, video: IMG_1.xmp
    if target == "capture-one":
        return "replace", False
    if target == "apple-photos":
        return None, True
    return "append", False


def sees(target: Target, name: str) -> str:
    """Given a target and a file name, where that manager finds our tags, in words."""
    placement = place(name, [target], "append", False)
    stem = name.rpartition(".")[0] if "." in name else name
    places = [f"{name}.xmp" if n == "append" else f"{stem}.xmp" for n in placement.namings]
    if placement.embed:
        places.append("inside the file")
    return " and ".join(places) if places else "nothing (it reads only inside such files)"


def rank(name: str) -> int:
    """Which of several files sharing a stem owns the stem-named sidecar: the RAW (as
    Lightroom and Capture One pair them), then a still image, then a video (a Live Photo's
    MOV gets ``IMG_1.MOV.xmp``). Equal ranks share nothing: both take appended names."""
    ext = extension(name)
    if ext in RAW_EXTENSIONS:
        return 0
    return 2 if ext in VIDEO_EXTENSIONS else 1


__all__ = ["EMBEDDABLE", "Placement", "Target", "place", "rank", "sees"]
