"""Logging: structlog, JSON lines for journald and files, readable lines on a terminal.

Every secret registered here is replaced by ``[redacted]`` wherever it appears in an event,
including rendered tracebacks, which are rendered without local variables (structlog shows
them by default, and a key in a local would leak past any key-based filter).
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import Any, TextIO

from .records import shown

# structlog's dev module loads rich's traceback renderer and Pygments whenever rich is
# installed (7 MB and 30 ms in every command and the daemon), for a console renderer's
# exception formatting this module never uses (``format_exc_info`` renders them first): rich
# is hidden while structlog loads. Every other module takes structlog's names from here.
_rich = sys.modules.get("rich")
sys.modules["rich"] = None  # type: ignore[assignment]
try:
    import structlog
    from structlog.contextvars import bound_contextvars
    from structlog.tracebacks import ExceptionDictTransformer
finally:
    if _rich is None:
        del sys.modules["rich"]
    else:
        sys.modules["rich"] = _rich

# replaced, never changed in place: a SIGHUP that registers a new key while another thread
# logs must not change the set under that thread's loop
_secrets: frozenset[str] = frozenset()
_SURROGATE = re.compile("[\ud800-\udfff]")
REDACTED = "[redacted]"


def register_secret(secret: str | None) -> None:
    """Given a secret (the API key), make sure no log line ever shows it."""
    global _secrets
    if secret and len(secret) >= 4:
        _secrets = _secrets | {secret}


def redact(value: Any) -> Any:
    """Given any event value, return it with every registered secret replaced."""
    if isinstance(value, str):
        for secret in _secrets:
            value = value.replace(secret, REDACTED)
        return shown(value) if _SURROGATE.search(value) else value  # a name that is not UTF-8
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, BaseException):
        return redact(str(value))
    return value


def _redact_processor(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Any:
    for key in list(event):
        if key.lower() in ("api_key", "key", "x-api-key", "authorization"):
            event[key] = REDACTED
        else:
            event[key] = redact(event[key])
    return event


class _CurrentStderr:
    """sys.stderr as it is when a line is written, so that a live progress display that
    redirects it keeps log lines above itself."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure(level: str = "info", stream: TextIO | None = None, json: bool | None = None) -> None:
    """Set up structlog. JSON unless the stream is a terminal; journald adds its own time."""
    stream = stream or _CurrentStderr()  # type: ignore[assignment]
    assert stream is not None
    if json is None:
        json = not stream.isatty()
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
    ]
    if not os.environ.get("JOURNAL_STREAM"):
        processors.append(structlog.processors.TimeStamper(fmt="iso", utc=True))
    if json:
        processors += [
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            _redact_processor,
            structlog.processors.JSONRenderer(),
        ]
    else:
        processors += [
            structlog.processors.format_exc_info,
            _redact_processor,
            structlog.dev.ConsoleRenderer(colors=stream.isatty()),
        ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


def capture_native_output() -> None:
    """C libraries (LibRaw: "IMG_1.nef: data corrupted at 1378"; libvips, libheif) and the
    programs we start write their complaints straight to file descriptor 2, as bare lines
    among the daemon's JSON. From here on that descriptor is a pipe whose lines become log
    events (``native``, at warning), and Python's own stderr (the log, tracebacks,
    faulthandler) goes on to where descriptor 2 went before. A daemon's, once."""
    global _captured
    if _captured:
        return
    _captured = True
    sys.stderr.flush()
    original = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)
    sys.stderr = io.TextIOWrapper(
        os.fdopen(original, "wb", buffering=0), encoding="utf-8", errors="backslashreplace",
        line_buffering=True,
    )  # fmt: skip
    native = get_logger("native")

    def relay() -> None:
        with os.fdopen(read, "rb") as pipe:
            for raw in pipe:
                line = raw.decode("utf-8", "replace").strip()
                if line:
                    native.warning("a library or tool said", said=line)

    threading.Thread(target=relay, name="native-output", daemon=True).start()


_captured = False

__all__ = [
    "bound_contextvars", "capture_native_output", "configure", "get_logger", "redact",
    "register_secret",
]  # fmt: skip
