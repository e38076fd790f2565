"""The JSON sidecar: everything the API said about the file, verbatim, with provenance and
what was sent for it (``upload``: the file itself, or the JPEG made from it, and its size).

Named ``IMG_1.jpg`` + ``sidecars.json_suffix`` (``IMG_1.jpg.visionati.json``), never
``IMG_1.jpg.json``, which Google Takeout exports use.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__


def sidecar_path(image: Path, suffix: str) -> Path:
    return image.with_name(image.name + suffix)


def render(
    file_name: str,
    sha256: str,
    request_id: str,
    tagged_at: datetime,
    options: dict[str, Any],
    asset: dict[str, Any],
    sent: dict[str, Any] | None = None,
) -> bytes:
    """Given a file's result, return the sidecar's bytes (the same input, the same bytes)."""
    document = {
        "generator": f"visionati-sync {__version__}",
        "file": file_name,
        "sha256": sha256,
        "request_id": request_id,
        "tagged_at": tagged_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "options": options,
        **({"upload": sent} if sent else {}),
        "asset": asset,
    }
    # one field per line, each value compact: readable, and json's C encoder (an ``indent``
    # would switch to the pure-Python one, the largest CPU cost of a backfill)
    fields = (
        f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"
        for key, value in document.items()
    )
    # text from the API that JSON allowed but UTF-8 cannot hold (a lone surrogate) is escaped
    return ("{\n" + ",\n".join(fields) + "\n}\n").encode("utf-8", "backslashreplace")
