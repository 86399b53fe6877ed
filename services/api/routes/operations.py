"""Probes and metrics: /healthz, /readyz, /metrics."""

import asyncio
from collections.abc import Awaitable

import structlog
from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import PlainTextResponse, Response

from services.api import examples
from services.api.dependencies import RuntimeDep
from services.api.errors import ServiceUnavailable
from services.api.responses import error_docs, ok
from services.api.schemas import Check, Liveness, Readiness
from shared.db import check_schema
from shared.schemas import Envelope

log = structlog.get_logger()

# A probe must answer before the orchestrator's own timeout (commonly 1-5 s).
CHECK_TIMEOUT_SECONDS = 2.0

router = APIRouter(tags=["operations"], generate_unique_id_function=lambda route: route.name)


@router.get("/healthz", response_model=Envelope[Liveness], summary="The process is alive")
async def healthz() -> Envelope[Liveness]:
    """Answers as long as the process serves requests; checks nothing else."""
    return ok(Liveness())


@router.get(
    "/readyz",
    response_model=Envelope[Readiness],
    responses=error_docs(500, 503, codes=examples.READINESS_ERRORS),
    summary="MySQL (migrated) and Redis answer",
)
async def readyz(runtime: RuntimeDep) -> Envelope[Readiness]:
    """200 when MySQL (migrated to this version's schema) and Redis both answer; 503 (with
    which one failed) otherwise."""
    mysql, redis = await asyncio.gather(
        _check("mysql", check_schema(runtime.engine)), _check("redis", runtime.redis.ping())
    )
    readiness = Readiness(mysql=mysql, redis=redis)
    failing = [name for name, check in (("MySQL", mysql), ("Redis", redis)) if check != "ok"]
    if failing:
        raise ServiceUnavailable(
            f"Not ready: {' and '.join(failing)} not answering.",
            code="not_ready",
            details=readiness.model_dump(),
        )
    return ok(readiness)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus metrics",
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(runtime: RuntimeDep) -> Response:
    """Request counts and latency by route, history cache hits and misses."""
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _check(name: str, probe: Awaitable[object]) -> Check:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await probe
    except Exception as error:  # any failure, of any kind, means "not ready"
        log.warning("api.not_ready", dependency=name, error=repr(error))
        return "unavailable"
    return "ok"
