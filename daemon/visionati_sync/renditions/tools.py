"""The only place that runs other programs: exiftool (RAW previews LibRaw cannot read, capture
times), ffprobe (a video's duration) and ffmpeg (a large video's frames); and useradd, for
`install-service`. Each is optional at
run time: a file that needs a missing tool is skipped, naming the tool and its package."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

# tool → the Debian package that brings it
PACKAGES = {
    "exiftool": "libimage-exiftool-perl", "ffprobe": "ffmpeg", "ffmpeg": "ffmpeg",
    "useradd": "passwd",
}  # fmt: skip
TIMEOUT = 120.0
MAX_OUTPUT = 256 * 1024 * 1024  # no tool's answer about one file is larger


class ToolError(Exception):
    """A tool that is missing, or that could not do what was asked of this file."""

    def __init__(self, tool: str, reason: str, *, missing: bool = False) -> None:
        super().__init__(f"{tool}: {reason}")
        self.tool = tool
        self.missing = missing


def run(tool: str, *args: str, timeout: float = TIMEOUT) -> bytes:
    """Given a tool and its arguments, return what it printed, or raise ToolError with
    the first line of what it said on failure."""
    path = shutil.which(tool)
    if path is None:
        package = PACKAGES.get(tool, tool)
        raise ToolError(tool, f"not installed (Debian package {package})", missing=True)
    try:
        done = subprocess.run(
            [path, *args],
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise ToolError(tool, f"gave no answer within {timeout:.0f} s") from None
    if done.returncode != 0 or len(done.stdout) > MAX_OUTPUT:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ToolError(tool, said[-1] if said else f"exit status {done.returncode}")
    return done.stdout


def exiftool_json(*args: str) -> list[dict[str, Any]]:
    """exiftool's ``-json`` answer for the given arguments (``-b`` data as ``base64:…``)."""
    out = run("exiftool", "-json", "-charset", "filename=utf8", *args)
    data = json.loads(out or b"[]")
    return [item for item in data if isinstance(item, dict)]


def video_duration(path: str) -> float:
    """Given a video, return its duration in seconds as its container states it."""
    out = run(
        "ffprobe", "-v", "error", "-show_entries", "format=duration",
        "-of", "default=noprint_wrappers=1:nokey=1", f"file:{path}",
    )  # fmt: skip
    text = out.decode("ascii", "replace").strip().splitlines()
    try:
        duration = float(text[0])
    except (IndexError, ValueError):
        raise ToolError("ffprobe", "the container states no duration") from None
    if not duration > 0 or duration > 7 * 24 * 3600:
        raise ToolError("ffprobe", f"the container states a duration of {duration!r} s")
    return duration


def video_frame(path: str, at: float, max_edge: int) -> bytes:
    """Given a video and a time in it, return that frame as PNG, its long edge at most
    ``max_edge`` (ffmpeg applies the video's rotation)."""
    scale = f"scale='if(gte(iw,ih),min(iw,{max_edge}),-2)':'if(gte(iw,ih),-2,min(ih,{max_edge}))'"
    return run(
        "ffmpeg", "-nostdin", "-v", "error", "-ss", f"{at:.3f}", "-i", f"file:{path}",
        "-frames:v", "1", "-vf", scale, "-f", "image2pipe", "-c:v", "png", "pipe:1",
    )  # fmt: skip


def create_system_user(name: str, home: str) -> None:
    """Given a name, make it a system user with no login (for the service), or raise
    ToolError with useradd's reason."""
    run("useradd", "--system", "--home-dir", home, "--shell", "/usr/sbin/nologin",
        "--user-group", name)  # fmt: skip
