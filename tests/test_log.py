"""The API key never reaches a log line, whether in an event, a value or a traceback."""

from __future__ import annotations

import io
import json
import shutil

import pytest
import structlog

from media import sample, samples
from support import Library
from visionati_sync import log

SECRET = "sk-test-0123456789abcdef"


def test_key_is_redacted_from_events_values_and_tracebacks() -> None:
    stream = io.StringIO()
    log.register_secret(SECRET)
    log.configure("debug", stream=stream, json=True)
    logger = structlog.get_logger("t")
    logger.info(f"calling with {SECRET}", headers={"X-API-Key": f"Token {SECRET}"}, api_key=SECRET)

    def leaky(key: str) -> None:
        header = f"Token {key}"  # a local holding the key, as requests would have
        raise RuntimeError(f"failed sending {header}")

    try:
        leaky(SECRET)
    except RuntimeError:
        logger.exception("boom")
    output = stream.getvalue()
    assert SECRET not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[0]["event"] == "calling with [redacted]"
    assert "[redacted]" in json.dumps(lines[1]["exception"])
    assert "locals" not in json.dumps(lines[1]["exception"])


def test_console_output_is_redacted_too() -> None:
    stream = io.StringIO()
    log.register_secret(SECRET)
    log.configure("info", stream=stream, json=False)
    try:
        raise ValueError(SECRET)
    except ValueError:
        structlog.get_logger("t").exception("bad", key=SECRET)
    assert SECRET not in stream.getvalue()


def test_librarys_own_complaints_become_log_events(library: Library) -> None:
    """LibRaw prints "…nef: data corrupted at 1378" to the process's stderr itself; in the
    daemon's JSON log it is an event naming what said it, not a bare line."""
    if not samples():
        pytest.skip("the media samples are not beside this checkout")
    shutil.copy2(sample("Nikon.nef"), library.photos / "Nikon.nef")
    result = library.cli("scan")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is JSON
    said = [e["said"] for e in events if e.get("event") == "a library or tool said"]
    assert any("data corrupted" in line for line in said), said
