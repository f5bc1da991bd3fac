"""FastAPI app: the search page and its JSON endpoints over one :class:`SearchService`.

Endpoints (all JSON unless stated; errors are ``{"detail": "<what was wrong>"}``):

- ``GET /``: the search page (HTML); ``GET /map``: the t-SNE map page (HTML).
- ``GET /api/info``: index size, embedding size, distance, threshold, limits.
- ``POST /api/search?k=5``: multipart field ``image`` -> top-k results, nearest first.
- ``POST /api/compare``: multipart fields ``image_a``, ``image_b`` -> distance, similarity,
  same/different at the threshold.
- ``GET /api/items/{id}``: one indexed item; ``GET /api/items/{id}/thumbnail``: its PNG
  thumbnail (only indexed files are served, chosen by integer id: no path in any request).
- ``GET /api/map``: the t-SNE points (ids, x, y, labels, paths).

Status codes: 400 unreadable request (bad ``Content-Length``, broken multipart body), 404
unknown item or route, 408 upload sent too slowly, 413 upload over the byte limit, 415 a POST
that is not ``multipart/form-data``, 422 empty / non-image / corrupt / too many pixels / bad
parameter, 500 server fault, 503 too many uploads at once (see :mod:`embedding_net.app.limits`).
Every error body is one short JSON message: no traceback (the server logs it to stderr), no
absolute path of the serving machine (paths are shown relative to the image root, see
:mod:`embedding_net.app.paths`).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from typing import Annotated

from embedding_net.app.limits import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_MAX_UPLOADS,
    FORM_OVERHEAD_BYTES,
    RequestGuard,
    header_deadline_protocol,
)
from embedding_net.app.page import SEARCH_PAGE, map_page, plotly_js_path
from embedding_net.app.service import ImageRejected, SearchService

try:  # module level: FastAPI resolves the endpoint annotations from this module's globals
    from fastapi import FastAPI, File, Query, Request, UploadFile
    from fastapi.concurrency import run_in_threadpool
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"the web app needs FastAPI ({exc}): pip install 'embedding-net[app]'"
    ) from exc

logger = logging.getLogger(__name__)

# an absolute POSIX path of two or more parts, or a Windows drive path
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])(?:/[^\s/'\"(),:;]+){2,}/?|[A-Za-z]:\\[^\s'\"]+")
_GUARD_OPTIONS = ("max_uploads", "idle_timeout_s", "body_timeout_s")


def require_app_extra() -> None:
    """Raise ImportError naming ``pip install embedding-net[app]`` when FastAPI is missing."""
    missing = [
        name
        for name in ("fastapi", "uvicorn", "multipart")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise ImportError(
            f"the web app needs {', '.join(missing)}: pip install 'embedding-net[app]'"
        )


def create_app(model_path: str | os.PathLike, index_path: str | os.PathLike, **kwargs):
    """Load a model (Keras safe mode) and an index once, and build the web app over them.

    Args:
        model_path: ``.keras`` embedding network.
        index_path: index file (``EmbeddingIndex.save`` / ``embedding-net encode``).
        **kwargs: :class:`~embedding_net.app.SearchService` options (``threshold``, ``top_k``,
            ``max_upload_bytes``, ``max_pixels``, ``image_root``, ``thumbnail_size``,
            ``max_map_points``, ``seed``) and :func:`build_app` request limits
            (``max_uploads``, ``idle_timeout_s``, ``body_timeout_s``).

    Returns:
        a ``fastapi.FastAPI`` application (serve it with uvicorn; ``app.state.service`` holds
        the service).

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: the model cannot be loaded safely, the index is not an index file or is
            empty, or their embedding sizes differ.
        ImportError: FastAPI is not installed (``pip install embedding-net[app]``).
    """
    require_app_extra()
    limits = {key: kwargs.pop(key) for key in _GUARD_OPTIONS if key in kwargs}
    return build_app(SearchService.from_files(model_path, index_path, **kwargs), **limits)


def build_app(
    service: SearchService,
    *,
    max_uploads: int = DEFAULT_MAX_UPLOADS,
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
):
    """Build the FastAPI app around an already constructed :class:`SearchService`.

    Args:
        service: the search service the endpoints call (``app.state.service``).
        max_uploads: uploads received or processed at once; more are answered 503.
        idle_timeout_s: an upload pausing longer than this between two chunks is cut off (408).
        body_timeout_s: an upload not received completely within this time is cut off (408).

    Returns:
        a ``fastapi.FastAPI`` application with the endpoints listed in this module's docstring.

    Raises:
        ImportError: FastAPI, uvicorn or python-multipart is not installed.
    """
    require_app_extra()
    app = FastAPI(
        title="embedding_net search",
        description="Search an embedding index by image, compare two images, browse the map.",
        version="1",
    )
    app.state.service = service
    _add_error_handling(app)
    _add_search_routes(app, service)
    _add_item_routes(app, service)
    _add_map_routes(app, service)
    app.add_middleware(
        RequestGuard,
        max_body_bytes=2 * service.max_upload_bytes + FORM_OVERHEAD_BYTES,  # two files at most
        max_uploads=max_uploads,
        idle_timeout_s=idle_timeout_s,
        body_timeout_s=body_timeout_s,
    )
    return app


def server_config(
    app,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    max_connections: int = 64,
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S,
    log_level: str = "warning",
):
    """The ``uvicorn.Config`` ``embedding-net serve`` runs ``app`` with (loopback by default).

    Args:
        app: the app from :func:`build_app` / :func:`create_app`.
        host, port: address to bind; ``127.0.0.1`` keeps the page on this machine.
        max_connections: open connections and requests at once; more are answered 503.
        header_timeout_s: a connection that sends no complete request header for this long is
            closed (see :func:`embedding_net.app.limits.header_deadline_protocol`).
        log_level: uvicorn's log level (errors and tracebacks go to stderr).

    Returns:
        a ``uvicorn.Config``; run it with ``uvicorn.Server(config).run()``.
    """
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=header_deadline_protocol(header_timeout_s),
        limit_concurrency=max_connections,
        timeout_keep_alive=5,
        log_level=log_level,
        lifespan="off",
    )


def public_detail(message) -> str:
    """An error message safe for any client: absolute paths replaced by ``<path>``, one line."""
    text = " ".join(str(message).split())
    return _ABSOLUTE_PATH.sub("<path>", text)[:1000]


def _validation_detail(exc: RequestValidationError) -> str:
    """``"k: Input should be a valid integer, ..."``: one line per bad field, joined by "; "."""
    parts = []
    for error in exc.errors():
        location = [str(x) for x in error.get("loc", ()) if x not in ("query", "body", "path")]
        parts.append(f"{'.'.join(location) or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _add_error_handling(app) -> None:
    """Every error answers ``{"detail": "<short message>"}``: no traceback, no absolute path."""

    @app.exception_handler(ImageRejected)
    async def _rejected(request: Request, exc: ImageRejected):
        return JSONResponse(status_code=exc.status, content={"detail": public_detail(exc.message)})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse(
            status_code=exc.status_code,
            content={"detail": public_detail(exc.detail)},
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return JSONResponse(
            status_code=422, content={"detail": public_detail(_validation_detail(exc))}
        )

    @app.exception_handler(Exception)
    async def _fault(request: Request, exc: Exception):
        # the traceback goes to the server's log (stderr), never to the client
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse(status_code=500, content={"detail": "internal server error"})


async def _read_upload(upload: UploadFile, field: str, max_bytes: int) -> bytes:
    """The bytes of ``upload``; ImageRejected (413) naming ``field`` when over ``max_bytes``."""
    # read at most one byte past the limit: that is enough to tell it is too large
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageRejected(
            413,
            f"{field}: the upload is larger than the limit of {max_bytes:,} bytes",
        )
    return data


def _add_search_routes(app, service: SearchService) -> None:
    """``GET /`` (the search page), ``GET /api/info``, ``POST /api/search`` and ``/api/compare``."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index_page():
        return HTMLResponse(SEARCH_PAGE)

    @app.get("/api/info")
    def info():
        return service.info()

    @app.post("/api/search")
    async def search(
        image: Annotated[UploadFile, File(description="query image")],
        k: Annotated[int | None, Query(description="number of results (default: --top-k)")] = None,
    ):
        service.check_k(k)
        data = await _read_upload(image, "image", service.max_upload_bytes)
        return await run_in_threadpool(service.search, data, k)

    @app.post("/api/compare")
    async def compare(
        image_a: Annotated[UploadFile, File(description="first image")],
        image_b: Annotated[UploadFile, File(description="second image")],
    ):
        data_a = await _read_upload(image_a, "image_a", service.max_upload_bytes)
        data_b = await _read_upload(image_b, "image_b", service.max_upload_bytes)
        return await run_in_threadpool(service.compare, data_a, data_b)


def _add_item_routes(app, service: SearchService) -> None:
    """``GET /api/items/{id}`` and ``GET /api/items/{id}/thumbnail`` (by integer id only)."""

    @app.get("/api/items/{item_id}")
    def item(item_id: int):
        if not 0 <= item_id < len(service.index):
            raise ImageRejected(404, f"item id {item_id} is not in the index")
        return service.item(item_id)

    @app.get("/api/items/{item_id}/thumbnail", response_class=Response)
    def thumbnail(item_id: int):
        return Response(
            service.thumbnail(item_id),
            media_type="image/png",
            headers={"Cache-Control": "max-age=3600"},
        )


def _add_map_routes(app, service: SearchService) -> None:
    """``GET /api/map`` (the t-SNE points), ``GET /map`` (its page) and the plotly.js it loads."""
    map_cache: dict[str, str] = {}

    @app.get("/api/map")
    def tsne_points():
        return service.tsne_map()

    @app.get("/map", response_class=HTMLResponse, include_in_schema=False)
    def tsne_page():
        if importlib.util.find_spec("plotly") is None:
            return HTMLResponse(
                "<p>The t-SNE map needs plotly: pip install 'embedding-net[app]'</p>",
                status_code=503,
            )
        if "page" not in map_cache:
            map_cache["page"] = map_page(
                service.tsne_map(), has_thumbnails=service.info()["has_paths"]
            )
        return HTMLResponse(map_cache["page"])

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js():
        path = plotly_js_path()
        if not path.is_file():
            raise ImageRejected(404, "plotly.js is not installed")
        return FileResponse(path, media_type="text/javascript")
