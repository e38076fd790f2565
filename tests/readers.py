"""The real XMP readers: exiftool and exiv2, which darktable and digiKam use underneath."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

KEYWORD_TAGS = (
    "XMP-dc:Subject", "XMP-lr:HierarchicalSubject", "XMP-digiKam:TagsList",
    "XMP-microsoft:LastKeywordXMP", "XMP-microsoft:LastKeywordIPTC", "XMP-mediapro:CatalogSets",
)  # fmt: skip


def exiftool(*paths: Path) -> dict[Path, dict[str, Any]]:
    """Every XMP tag of each file, as exiftool reads it (-G1 names the namespace group)."""
    result = subprocess.run(
        ["exiftool", "-j", "-a", "-G1", "-n", "-struct", "-XMP:all", *map(str, paths)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    return {Path(entry["SourceFile"]): entry for entry in json.loads(result.stdout)}


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def exiv2_loads(path: Path) -> str:
    """Load the sidecar with exiv2; any error or warning fails (a duplicate property makes
    exiv2 drop the whole packet)."""
    result = subprocess.run(
        ["exiv2", "-px", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and result.stderr == "", f"{path}: {result.stderr}"
    assert result.stdout.strip(), f"{path}: exiv2 read no XMP"
    return result.stdout
