"""`python -m services.collector` runs the collector worker; `--check` probes it."""

import argparse
import asyncio
import logging
import sys

import structlog
import uvloop

from services.collector.arq_worker import create_collector_worker
from services.collector.health import check, reset_breaker
from services.collector.metrics import serve_metrics
from services.collector.worker import (
    REDIS_BACKOFF,
    WorkerSettings,
    worker_name,
    worker_options,
)
from shared.logs import configure_logging, settings_secrets
from shared.settings import CollectorSettings

log = structlog.get_logger()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the worker or one of its operator commands."""
    parser = argparse.ArgumentParser(prog="python -m services.collector", description=__doc__)
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--check",
        action="store_true",
        help="exit 0 if this host's worker recorded its health recently, 1 otherwise; "
        "also print the TikHub breaker state (a liveness probe)",
    )
    action.add_argument(
        "--reset-breaker",
        action="store_true",
        help="close the TikHub circuit breaker (after fixing a rejected key)",
    )
    args = parser.parse_args(argv)
    settings = CollectorSettings()
    if args.check:
        return 0 if uvloop.run(check(settings)) else 1
    if args.reset_breaker:
        was_set = uvloop.run(reset_breaker(settings))
        print("TikHub breaker cleared." if was_set else "TikHub breaker was not set.", flush=True)
        return 0
    configure_logging(settings, "collector", secrets=settings_secrets(settings))
    if settings.log_level != "DEBUG":
        # arq logs two lines per job; the collector's own events carry the same and more.
        logging.getLogger("arq.worker").setLevel(logging.WARNING)
        # httpx logs every request; failures are logged by the collector with more context.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    if settings.collector_metrics_port:
        serve_metrics(settings.collector_metrics_host, settings.collector_metrics_port)
    log.info(
        "collector.starting",
        worker=worker_name(),
        max_jobs=settings.collector_max_jobs,
        rate_limit_per_second=settings.tikhub_rate_limit_per_second,
        metrics_port=settings.collector_metrics_port or None,
    )
    # arq's Worker takes the current event loop when it is built; make that uvloop's.
    asyncio.set_event_loop(uvloop.new_event_loop())
    create_collector_worker(WorkerSettings, backoff=REDIS_BACKOFF, **worker_options(settings)).run()
    log.info("collector.stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
