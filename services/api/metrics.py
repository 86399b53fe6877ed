"""The API's Prometheus metrics, in a registry of the app's own (two apps never share counters)."""

from prometheus_client import CollectorRegistry, Counter, Histogram

# Request latencies of a cached read sit near a millisecond; an uncached 1,000-point read
# takes tens of milliseconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ApiMetrics:
    """Request counts and latency by route template, and history cache outcomes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "api_requests",
            "HTTP requests answered, by route template, method and status",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "api_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.history_cache = Counter(
            "api_history_cache",
            "History reads of the default view, by target kind and result (hit, miss, error)",
            ("kind", "result"),
            registry=self.registry,
        )
