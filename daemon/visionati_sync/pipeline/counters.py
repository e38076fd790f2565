"""What this daemon did since it started, counted by the stages for Prometheus
(``service/metrics`` serves them with what the job table says at each scrape). They cost
nothing worth measuring when no one scrapes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
UPLOADS = Counter(
    "visionati_sync_uploads", "Requests uploaded to the API by this daemon", registry=REGISTRY
)
UPLOADED_FILES = Counter(
    "visionati_sync_uploaded_files", "Files sent in those requests", registry=REGISTRY
)
POLLS = Counter("visionati_sync_polls", "Polls of outstanding requests", registry=REGISTRY)
CACHE_HITS = Counter(
    "visionati_sync_cache_hits", "Files served from the results cache, no upload",
    registry=REGISTRY,
)  # fmt: skip
API_ERRORS = Counter(
    "visionati_sync_api_errors", "The API's refusals and faults, by kind", ["kind"],
    registry=REGISTRY,
)  # fmt: skip
REQUEST_SECONDS = Histogram(
    "visionati_sync_request_seconds", "From upload to the completed answer",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800), registry=REGISTRY,
)  # fmt: skip
