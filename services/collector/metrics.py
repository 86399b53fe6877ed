"""Prometheus metrics of the collector."""

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

# TikHub calls usually finish in well under 10 s; its own advice is a 30-60 s timeout.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
# Waits for a rate-limiter token are bounded by COLLECTOR_RATE_LIMIT_MAX_WAIT_SECONDS.
WAIT_BUCKETS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


class CollectorMetrics:
    """The collector's counters, histograms and gauges, registered in one registry."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.collections = Counter(
            "collector_collections",
            "Collection jobs by outcome: live row, fallback row, skipped, or failed without a row.",
            ["outcome"],
            registry=registry,
        )
        self.deferrals = Counter(
            "collector_deferrals",
            "Jobs put back on the queue for later, by reason (rate_limit, breaker, database).",
            ["reason"],
            registry=registry,
        )
        self.post_samples = Counter(
            "collector_post_samples",
            "Samples of creators' recent posts by outcome (sampled, failed).",
            ["outcome"],
            registry=registry,
        )
        self.tikhub_latency = Histogram(
            "collector_tikhub_request_seconds",
            "Time of one TikHub HTTP call, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.tikhub_responses = Counter(
            "collector_tikhub_responses",
            "TikHub answers by endpoint and HTTP status ('timeout' or 'transport' when none).",
            ["endpoint", "status"],
            registry=registry,
        )
        self.rate_limit_wait = Histogram(
            "collector_rate_limit_wait_seconds",
            "Time a call waited for its token from the shared TikHub rate limiter.",
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.rate_limit_rebookings = Counter(
            "collector_rate_limit_rebookings_total",
            "Tokens given up because the event loop woke the call too late to send it.",
            registry=registry,
        )
        self.breaker_state = Gauge(
            "collector_tikhub_breaker_state",
            "TikHub circuit breaker as this process last saw it: "
            "0 closed, 1 open, 2 half-open (probing), 3 open on rejected credentials.",
            registry=registry,
        )


def serve_metrics(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> None:
    """Expose the metrics over HTTP on `host`:`port` from a background thread."""
    start_http_server(port, addr=host, registry=registry)
