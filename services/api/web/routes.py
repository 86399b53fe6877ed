"""The dashboard's pages and fragments. They read through the same services as the API's
routes; what they change (create, pause, resume, stop) the pages send to the API itself."""

from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, RedirectResponse, Response

from services.api.auth import SESSION_COOKIE, SIGN_IN_PATH, offered_key
from services.api.dependencies import history_service, runtime_of, stats_service
from services.api.errors import InvalidInput, NotFound
from services.api.history import Target, instagram_id_of, parse_post_code, task_of
from services.api.history_window import HistoryWindow
from services.api.routes.monitors import INFLUENCERS, POSTS, Monitor
from services.api.web import formatting
from services.api.web.overview import TableQuery, TargetFilter, table_page
from shared.intervals import Interval
from shared.models import TaskStatus, TaskType
from shared.repositories.driver import driver_reads
from shared.repositories.tasks import TaskRepository

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(formatting.FILTERS)
MONITORS = {monitor.task_type: monitor for monitor in (INFLUENCERS, POSTS)}
RECENT_POINTS = 20
# Statistics over this many days: the profile statistics route's default.
STATS_DAYS = 30

router = APIRouter(include_in_schema=False)

KindQuery = Annotated[TaskType, Query(description="Profiles or posts")]


def render_page(request: Request, name: str, **context: Any) -> HTMLResponse:
    signed_in = runtime_of(request).settings.api_auth == "required"
    return templates.TemplateResponse(
        request,
        name,
        {
            "sign_out": signed_in,
            "intervals": list(Interval),
            "statuses": list(TaskStatus),
            **context,
        },
    )


async def table_query(
    kind: KindQuery = TaskType.INFLUENCER,
    q: Annotated[str, Query(max_length=100, description="Part of the username or post code")] = "",
    # The filters' "any" sends an empty value.
    status: TaskStatus | Literal[""] = "",
    tag: Annotated[str, Query(max_length=50)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page of the table, from 1")] = 1,
) -> TableQuery:
    return TableQuery(kind, TargetFilter(q, status or None, tag or None), page)


Table = Annotated[TableQuery, Depends(table_query)]


@router.get("/", response_class=HTMLResponse)
async def targets_page(request: Request, table: Table) -> HTMLResponse:
    """The targets table of one kind (its filters and page in the URL), with the forms that
    add one target or many."""
    async with runtime_of(request).sessions() as session:
        tags = await TaskRepository(session).tags_in_use(table.kind)
        shown = await table_page(session, table)
    return render_page(request, "targets.html", **_table(table), page=shown, tags=tags)


@router.get("/ui/targets/rows", response_class=HTMLResponse)
async def target_table(request: Request, table: Table) -> HTMLResponse:
    """One page of the table, polled while the page is open."""
    async with runtime_of(request).sessions() as session:
        shown = await table_page(session, table)
    return render_page(request, "_table.html", **_table(table), page=shown)


def _table(table: TableQuery) -> dict[str, Any]:
    return {"kind": table.kind, "monitor": MONITORS[table.kind], "listed": table.listed}


@router.get("/ui/targets/{kind}/{target}", response_class=HTMLResponse)
async def target_page(request: Request, kind: TaskType, target: str) -> HTMLResponse:
    """One target: its chart, statistics and recent points."""
    monitor = MONITORS[kind]
    try:
        async with driver_reads(runtime_of(request).engine) as reads:
            task = await task_of(reads, _target(kind, target))
    except (NotFound, InvalidInput) as error:
        page = render_page(request, "missing.html", kind=kind, message=error.message)
        page.status_code = error.status_code
        return page
    stats = await _stats(request, monitor, task.target)
    return render_page(
        request,
        "target.html",
        kind=kind,
        monitor=monitor,
        task=task,
        stats=stats,
        points=await _recent_points(request, monitor, task.target),
        history_url=f"/api/v1/instagram/{monitor.path}/{monitor.history_route}/{task.target}",
        anomalies=orjson.dumps(stats.get("anomalies", [])).decode(),
    )


@router.get("/ui/targets/{kind}/{target}/stats", response_class=HTMLResponse)
async def target_stats(request: Request, kind: TaskType, target: str) -> HTMLResponse:
    """The statistics and recent points of one target, polled while its page is open."""
    monitor = MONITORS[kind]
    async with driver_reads(runtime_of(request).engine) as reads:
        task = await task_of(reads, _target(kind, target))
    return render_page(
        request,
        "_stats.html",
        kind=kind,
        monitor=monitor,
        task=task,
        stats=await _stats(request, monitor, task.target),
        points=await _recent_points(request, monitor, task.target),
    )


@router.get(SIGN_IN_PATH, response_class=HTMLResponse, response_model=None)
async def sign_in_page(request: Request) -> Response:
    """Where a browser without a valid key lands; nothing to sign in to without auth."""
    if runtime_of(request).settings.api_auth == "disabled":
        return RedirectResponse("/", status_code=303)
    return render_page(request, "signin.html", sign_out=False)


@router.post("/ui/session", status_code=204)
async def sign_in(request: Request) -> Response:
    """Keep the key the sign-in form sent (already admitted by the auth step) in the cookie."""
    key = offered_key(request.headers)
    if key is None:
        raise InvalidInput("Sign in by sending the API key in the X-API-Key header.")
    response = Response(status_code=204, headers={"HX-Redirect": "/"})
    response.set_cookie(
        SESSION_COOKIE,
        key,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.delete("/ui/session", status_code=204)
async def sign_out() -> Response:
    """Forget the key; the browser goes back to the sign-in page."""
    response = Response(status_code=204, headers={"HX-Redirect": SIGN_IN_PATH})
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response


def _target(kind: TaskType, target: str) -> Target:
    if kind is TaskType.POST:
        return Target(kind, None, None, parse_post_code(target))
    return Target(kind, None, instagram_id_of(target), target)


async def _stats(request: Request, monitor: Monitor, target: str) -> dict[str, Any]:
    service = stats_service(request)
    options = STATS_DAYS if monitor is INFLUENCERS else None
    stats = await monitor.read_stats(service, target, options)
    return stats.model_dump(by_alias=True)


async def _recent_points(request: Request, monitor: Monitor, target: str) -> list[dict[str, Any]]:
    # The default view: the one the API caches, so a polled page costs a Redis read.
    body = await monitor.read(history_service(request), target, HistoryWindow())
    points: list[dict[str, Any]] = orjson.loads(body)["data"]["history"]
    return points[:RECENT_POINTS]
