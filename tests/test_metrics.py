"""The daemon's Prometheus endpoint, scraped over real HTTP while it runs: the text parses
with prometheus_client's own parser, and its counts are the ones `status` gives."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from support import Library, wait_until
from visionati_sync.devtools import samples
from visionati_sync.devtools.pgserver import free_port

pytestmark = pytest.mark.slow


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(url, timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_agree_with_status(library: Library) -> None:
    listen = f"127.0.0.1:{free_port()}"
    library.configure(metrics={"listen": listen})
    samples.write_library(library.photos, 3)
    (library.photos / "empty.jpg").write_bytes(b"")  # one that fails: skipped
    with library.daemon() as running:
        library.wait_for("done", 3)
        url = f"http://{listen}/metrics"
        found = wait_until(lambda: scrape(url), 10, 0.1, "the metrics endpoint")
        status = library.status()
        for state, count in status["counts"].items():
            assert found[("visionati_sync_files", (("state", state),))] == count
        assert (
            found[("visionati_sync_credits_spent", (("since", "ever"),))]
            == (status["credits_spent"]["total"])
        )
        assert found[("visionati_sync_uploads_total", ())] >= 1
        assert found[("visionati_sync_uploaded_files_total", ())] == 3
        assert found[("visionati_sync_request_seconds_count", ())] >= 1
        assert found[("visionati_sync_paused", (("why", ""),))] == 0
        assert running.stop() == 0


def test_metrics_are_off_unless_asked_for(library: Library) -> None:
    samples.write_library(library.photos, 1)
    with library.daemon() as running:
        library.wait_for("done", 1)
        assert not running.logged("metrics served")
        assert running.stop() == 0
