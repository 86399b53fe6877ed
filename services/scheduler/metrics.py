"""Prometheus metrics of the scheduler."""

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server

# Lateness is normally well under a second; the long buckets show outages being caught up.
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
TICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SchedulerMetrics:
    """The scheduler's counters and histograms, registered in one registry."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.slots_dispatched = Counter(
            "scheduler_slots_dispatched",
            "Collection jobs enqueued, one per due slot.",
            registry=registry,
        )
        self.duplicates_refused = Counter(
            "scheduler_duplicates_refused",
            "Slots whose job id arq already held (a retried batch, or a slot in flight checked "
            "after its lease), so no second job was queued.",
            registry=registry,
        )
        self.slots_recovered = Counter(
            "scheduler_slots_recovered",
            "Slots in flight whose job Redis had lost, queued again after their lease.",
            registry=registry,
        )
        self.tick_failures = Counter(
            "scheduler_tick_failures",
            "Ticks that failed (database or Redis unavailable) and were retried after a back-off.",
            registry=registry,
        )
        self.tick_duration = Histogram(
            "scheduler_tick_duration_seconds",
            "Time to claim, enqueue and advance every due slot of one tick.",
            buckets=TICK_BUCKETS,
            registry=registry,
        )
        self.lateness = Histogram(
            "scheduler_lateness_seconds",
            "Time from a slot to the moment its job was enqueued.",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )


def serve_metrics(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> None:
    """Expose the metrics over HTTP on `host`:`port` from a background thread."""
    start_http_server(port, addr=host, registry=registry)
