"""The only place that runs other programs: exiftool (RAW previews LibRaw cannot read, capture
times; and, kept running, writing tags into files), ffprobe (a video's duration) and ffmpeg (a
large video's frames, the hash of a video's streams); and useradd, for `install-service`.
Each is optional at
run time: a file that needs a missing tool is skipped, naming the tool and its package."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from typing import IO, Any

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


def stream_hash(path: str) -> str:
    """Given a video, the hash of every stream's packets as they are stored (not decoded):
    equal before and after a write that touched only the container's metadata."""
    out = run(
        "ffmpeg", "-nostdin", "-v", "error", "-i", f"file:{path}", "-map", "0", "-c", "copy",
        "-f", "streamhash", "-hash", "sha256", "pipe:1",
    )  # fmt: skip
    return out.decode("ascii", "replace").strip()


class ExifTool:
    """One long-lived exiftool (``-stay_open``): a write costs a few milliseconds instead of
    Perl's start-up. ``config`` is exiftool's own config text (our XMP namespace). Calls are
    serialised; a process that dies or times out is started again for the next call."""

    READY = "{ready}"

    def __init__(self, config: str = "", timeout: float = TIMEOUT) -> None:
        self.config = config
        self.timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._config_file: str | None = None
        self._lock = threading.Lock()

    def execute(self, *args: str) -> tuple[str, str]:
        """Given one command's arguments, return what exiftool printed and what it said on
        its error stream; raise ToolError when it is missing, stuck or gone."""
        with self._lock:
            process = self._started()
            assert process.stdin is not None and process.stdout is not None
            lines = [*map(_argument, args), "-echo4", self.READY, "-execute", ""]
            timer = threading.Timer(self.timeout, process.kill)
            timer.start()
            try:
                process.stdin.write("\n".join(lines).encode())
                process.stdin.flush()
                out = _until(process.stdout, self.READY)
                assert process.stderr is not None
                err = _until(process.stderr, self.READY)
            except (OSError, EOFError):
                self._process = None
                raise ToolError(
                    "exiftool", "stopped while writing (killed, or no answer)"
                ) from None
            finally:
                timer.cancel()
            self._forget_config()  # read at start: nothing left behind in the temp folder
            return out, err

    def close(self) -> None:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                assert self._process.stdin is not None
                try:
                    self._process.stdin.write(b"-stay_open\nFalse\n")
                    self._process.stdin.flush()
                    self._process.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    self._process.kill()
            self._process = None
            self._forget_config()

    def _forget_config(self) -> None:
        if self._config_file is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._config_file)
            self._config_file = None

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        path = shutil.which("exiftool")
        if path is None:
            raise ToolError("exiftool", f"not installed (Debian package {PACKAGES['exiftool']})",
                            missing=True)  # fmt: skip
        if self._config_file is None:
            handle, self._config_file = tempfile.mkstemp(prefix="vsync-exiftool-", suffix=".pl")
            with os.fdopen(handle, "w", encoding="utf-8") as config:
                config.write(self.config)
        self._process = subprocess.Popen(
            [path, "-config", self._config_file, "-stay_open", "True", "-@", "-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=_end_with_parent,
        )  # fmt: skip
        atexit.register(self._end, self._process)
        return self._process

    @staticmethod
    def _end(process: subprocess.Popen[bytes]) -> None:
        """At exit: exiftool does not end by itself when its argument stream closes."""
        if process.poll() is None:
            process.kill()
            process.wait()


def _end_with_parent() -> None:
    """In the child, before exiftool starts: ended by the kernel if this process dies (a
    daemon killed with SIGKILL leaves no exiftool behind). Linux only; elsewhere a no-op."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _argument(arg: str) -> str:
    """One line of exiftool's argument stream; a value with a line break in it (a
    description) goes as a C string, exiftool's own escape for argument files."""
    if "\n" not in arg and "\r" not in arg:
        return arg
    escaped = arg.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "#[CSTR]" + escaped


def _until(stream: IO[bytes], marker: str) -> str:
    """What a stream says up to the line ``marker``."""
    lines: list[str] = []
    while True:
        line = stream.readline()
        if not line:
            raise EOFError
        text = line.decode("utf-8", "replace").rstrip("\n")
        if text == marker:
            return "\n".join(lines)
        lines.append(text)


def create_system_user(name: str, home: str) -> None:
    """Given a name, make it a system user with no login (for the service), or raise
    ToolError with useradd's reason."""
    run("useradd", "--system", "--home-dir", home, "--shell", "/usr/sbin/nologin",
        "--user-group", name)  # fmt: skip


def run_program(argv: list[str], stdin: bytes, env: dict[str, str], timeout: float) -> None:
    """Given a user's program (a notifier) and what it reads, run it in a session of its own
    (a timeout ends it and whatever it started), or raise ToolError with its exit status and
    the last line it wrote to stderr."""
    name = os.path.basename(argv[0])
    try:
        process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, **env}, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        raise ToolError(name, f"cannot be started: {exc.strerror}", missing=True) from None
    try:
        _, err = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise ToolError(name, f"did not finish within {timeout:.0f} s; ended") from None
    if process.returncode != 0:
        said = err.decode("utf-8", "replace").strip().splitlines()
        tail = f": {said[-1]}" if said else ""
        raise ToolError(name, f"exit status {process.returncode}{tail}")


def start_helper(argv: list[str]) -> None:
    """Given the warm helper's command, start it detached (a session of its own, no
    terminal, nothing inherited): it outlives the command that started it."""
    with contextlib.suppress(OSError):
        subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
        )  # fmt: skip
