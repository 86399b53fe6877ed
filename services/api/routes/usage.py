"""GET /api/v1/usage: what TikHub costs, today, lately and at the current intervals."""

from fastapi import APIRouter

from services.api import examples
from services.api.dependencies import UsageServiceDep
from services.api.responses import documented, ok
from shared.schemas import Envelope, Usage

router = APIRouter(
    prefix="/api/v1", tags=["usage"], generate_unique_id_function=lambda route: route.name
)


@router.get(
    "/usage",
    response_model=Envelope[Usage],
    responses=documented(examples.USAGE),
    summary="TikHub calls, cost, projections, balance, budget and keys",
)
async def usage(service: UsageServiceDep) -> Envelope[Usage]:
    """Today's TikHub calls (UTC; retries and fallback endpoints included) and the last 30
    days; what the active tasks will cost per day and per 30 days at their intervals; how
    much of the key pool's rate limit they use; the balance TikHub reports, how many days it
    lasts at that pace, the daily budget and each key's state. Counts not yet flushed by the
    collectors (at most a minute's) are read from Redis."""
    return ok(await service.overview())
