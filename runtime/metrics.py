"""Prometheus metrics of one Hangar process (served at ``/metrics``).

Defined once at import on the default registry; the layers only increment them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INTERACTIONS_FINISHED = Counter(
    "hangar_interactions_finished_total",
    "Interactions that reached a terminal or paused status.",
    ["kind", "status"],
)
INTERACTION_SECONDS = Histogram(
    "hangar_interaction_duration_seconds",
    "From create to terminal status.",
    ["kind"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, float("inf")),
)
INTERACTIONS_RUNNING = Gauge("hangar_interactions_running", "Interactions this process is running now.")
HTTP_REQUESTS = Counter("hangar_http_requests_total", "HTTP requests served.", ["method", "route", "status"])
HTTP_SECONDS = Histogram("hangar_http_request_duration_seconds", "HTTP request latency.", ["method", "route"])
