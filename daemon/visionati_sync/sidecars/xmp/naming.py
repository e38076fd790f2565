"""Which XMP sidecar belongs to a photo: ``IMG_1.jpg.xmp`` (append) or ``IMG_1.xmp``
(replace). The decision is pure (``choose``, from what is beside the photo); ``choose_path``
looks at the folder and asks it. With ``sidecars.targets`` named the names are exact: each
target reads one name, so an existing sidecar of the other name does not stand in for it.

An existing sidecar of either name is used; with both, the one ``naming`` names. A
replace-named sidecar is used only when it is this photo's: never when its provenance names
another photo, or, without provenance, when another photo shares the stem (IMG_1.jpg and
IMG_1.cr2 would otherwise share one sidecar) and outranks it: the RAW owns the stem over its
JPEG, a still over its Live Photo video (``rules.targets.rank``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ...records import shown
from ...rules.targets import rank
from ..atomic import SidecarError, Snapshot
from . import provenance
from .editor import Editor
from .packet import MAX_BYTES, parse

# Files that may share a stem with a photo and own a replace-named sidecar (IMG_1.xmp).
PHOTO_EXTENSIONS = (
    "jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff", "heic", "heif", "avif", "jxl",
    "dng", "cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "raf", "orf", "rw2", "pef",
    "srw", "x3f", "3fr", "iiq", "erf", "kdc", "mos", "mrw", "raw", "rwl",
    "mov", "mp4", "m4v",
)  # fmt: skip


@dataclass(frozen=True)
class Beside:
    """What is beside a photo, as far as choosing its sidecar goes."""

    appended: str | None = None  # the name of an existing IMG_1.jpg.xmp (or .XMP)
    replaced: str | None = None  # the name of an existing IMG_1.xmp (or .XMP)
    replaced_for: str | None = None  # the photo the replace-named one's provenance names
    stem_shared: bool = False  # another photo here has this one's stem and outranks it


def choose(image: str, naming: str, beside: Beside, exact: bool = False) -> tuple[str, str | None]:
    """Given a photo's name, the naming setting and what is beside it, return the name of
    the sidecar to merge into, and a note when the choice fell back from ``naming``."""
    appended = image + ".xmp"
    replaced = image.rpartition(".")[0] + ".xmp" if "." in image else appended
    if exact and naming == "append":
        return beside.appended or appended, None
    if exact and beside.replaced is None:  # IMG_1.xmp wanted, none there yet
        if beside.stem_shared:
            return appended, f"another photo with the same stem owns {replaced}; using {appended}"
        return replaced, None
    if beside.replaced is not None and (naming == "replace" or beside.appended is None):
        owner = beside.replaced_for  # as provenance records it: the name as shown
        if owner == shown(image) or (owner is None and not beside.stem_shared):
            return beside.replaced, None
        note = f"{beside.replaced} belongs to another photo with the same stem"
        return beside.appended or appended, note
    if beside.appended is not None:
        return beside.appended, None
    if naming == "replace":
        if beside.stem_shared:
            return appended, f"another photo shares the stem of {image}; using {appended}"
        return replaced, None
    return appended, None


def choose_path(image: Path, naming: str, exact: bool = False) -> tuple[Path, str | None]:
    """Given a photo, look beside it and return the sidecar to merge into (see ``choose``)."""
    folder, name = os.path.split(image)
    stem = name.rpartition(".")[0] if "." in name else name
    appended = _existing(folder, name)
    replaced = _existing(folder, stem)
    owner = _written_for(Path(folder, replaced)) if replaced is not None else None
    stem_matters = (replaced is not None and owner is None) or naming == "replace"
    beside = Beside(appended, replaced, owner, stem_matters and _stem_shared(image))
    chosen, note = choose(name, naming, beside, exact)
    return Path(folder, chosen), note


def written_for(image: Path) -> list[Path]:
    """Given a photo, the sidecars of either name we may have written for it (`untag`): the
    appended one, and the stem-named one when its provenance names this photo."""
    folder, name = os.path.split(image)
    stem = name.rpartition(".")[0] if "." in name else name
    found = []
    appended = _existing(folder, name)
    if appended is not None:
        found.append(Path(folder, appended))
    replaced = _existing(folder, stem)
    if replaced is not None and _written_for(Path(folder, replaced)) == shown(name):
        found.append(Path(folder, replaced))
    return found


def _existing(folder: str, base: str) -> str | None:
    """The name of the sidecar ``base.xmp`` in ``folder``, or of its upper-case-suffix twin
    (IMG_1.XMP from Windows): any name in use counts, a link too (reading or writing it then
    fails with the reason). Plain strings: this runs for every photo of a backfill."""
    for name in (base + ".xmp", base + ".XMP"):
        if os.path.lexists(os.path.join(folder, name)):
            return name
    return None


def _stem_shared(image: Path) -> bool:
    """Whether another file in the folder has this one's stem and outranks or ties it for
    the stem-named sidecar (IMG_1.jpg beside IMG_1.cr2; IMG_1.jpg beside IMG_1.png)."""
    own = rank(image.name)
    for extension in PHOTO_EXTENSIONS:
        for suffix in (f".{extension}", f".{extension.upper()}"):
            other = image.with_suffix(suffix)
            if other.name != image.name and rank(other.name) <= own and other.exists():
                return True
    return False


def _written_for(sidecar: Path) -> str | None:
    """The photo this daemon last wrote into ``sidecar`` for, if any."""
    try:
        content = Snapshot.read(sidecar, limit=MAX_BYTES).content
        document = parse(content or b"", str(sidecar))
    except SidecarError:
        return None
    return provenance.read(Editor(document)).file
