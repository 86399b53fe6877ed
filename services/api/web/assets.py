"""The files browsers load: the dashboard's own, the libraries npm installed beside them
(`make install`), and Swagger UI's, so that neither the dashboard nor /docs needs the internet."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).parent
NODE_MODULES = HERE / "node_modules"
# URL folder under /assets → the installed package's folder holding what the pages load.
LIBRARIES = {
    "htmx": "htmx.org/dist",
    "htmx-json": "htmx-ext-json-enc",
    "uplot": "uplot/dist",
    "swagger-ui": "swagger-ui-dist",
}
SWAGGER = "/assets/swagger-ui"
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


def mount_assets(app: FastAPI) -> None:
    """Serve /static, /assets/<library> and /docs; fail at start when npm's packages are missing."""
    missing = [name for name, folder in LIBRARIES.items() if not (NODE_MODULES / folder).is_dir()]
    if missing:
        raise RuntimeError(
            f"The dashboard's browser libraries are not installed ({', '.join(missing)} missing "
            f"under {NODE_MODULES}); run `make install`, which runs npm ci there."
        )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for name, folder in LIBRARIES.items():
        app.mount(f"/assets/{name}", StaticFiles(directory=NODE_MODULES / folder), name=name)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} · API docs",
            swagger_js_url=f"{SWAGGER}/{SWAGGER_FILES[0]}",
            swagger_css_url=f"{SWAGGER}/{SWAGGER_FILES[1]}",
            swagger_favicon_url=f"{SWAGGER}/{SWAGGER_FILES[2]}",
        )
