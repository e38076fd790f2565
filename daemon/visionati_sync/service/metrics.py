"""Metrics for Prometheus (``metrics.listen``, off by default): what this daemon did since it
started (the stages' ``pipeline/counters``: uploads, polls, results-cache hits, API errors by
kind, how long requests took), and what the job table says at the moment of the scrape (files
by state, credits, the pause, the oldest pending file), read as `status` reads it, so the two
always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..jobtable import JobTable
from ..pipeline.counters import REGISTRY


class TableCollector(Collector):
    """What the job table says at the moment of a scrape."""

    def __init__(self, table: JobTable, paused: Callable[[], str | None]) -> None:
        self.table = table
        self.paused = paused

    def collect(self) -> Iterator[Any]:
        reports = self.table.reports
        files = GaugeMetricFamily(
            "visionati_sync_files",
            "Files in the job table, by state (as `status`)",
            labels=["state"],
        )
        for state, count in reports.counts().items():
            files.add_metric([state], count)
        yield files
        midnight = datetime.combine(date.today(), time(0)).astimezone()
        credits = GaugeMetricFamily(
            "visionati_sync_credits_spent",
            "Credits spent: charged, or the price table's estimate for requests still open",
            labels=["since"],
        )
        credits.add_metric(["ever"], reports.credits_spent())
        credits.add_metric(["today"], reports.credits_spent(since=midnight))
        yield credits
        yield GaugeMetricFamily(
            "visionati_sync_requests_in_flight", "Requests this daemon has with the API",
            value=self.table.requests.outstanding(),
        )  # fmt: skip
        oldest = reports.oldest_pending()
        age = 0.0 if oldest is None else (reports.clock() - oldest).total_seconds()
        yield GaugeMetricFamily(
            "visionati_sync_oldest_pending_seconds", "Age of the oldest file waiting", value=age
        )
        why = self.paused()
        paused = GaugeMetricFamily(
            "visionati_sync_paused", "1 while uploads are paused, with why", labels=["why"]
        )
        paused.add_metric([why or ""], 1 if why else 0)
        yield paused


def serve(listen: str, table: JobTable, paused: Callable[[], str | None]) -> Any:
    """Given ``host:port``, serve /metrics there in a thread; returns the server (to stop)."""
    host, _, port = listen.rpartition(":")
    REGISTRY.register(TableCollector(table, paused))
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=REGISTRY)
    return server
