"""The dashboard's routes (FastAPI): HTML pages rendered by Jinja2, JSON the pages poll, server-sent events for
logs, confined downloads, and the Stop/Restart POSTs (CSRF-checked). All data comes from views.Dashboard."""

from __future__ import annotations

import asyncio
import mimetypes
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from launcher.errors import JobNotFound, UserError
from launcher.jobs import JobRecord, JobStore
from launcher.redact import redact
from launcher.storage.errors import StorageError
from launcher.ui.outputs import OutsideOutputs, fetch_output, list_outputs, tree
from launcher.ui.security import CSRF_FIELD, LOOPBACK_HOSTS, Access, AccessMiddleware, same_origin
from launcher.ui.views import Dashboard, Filters

HERE = Path(__file__).resolve().parent
INLINE_IMAGES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".svg": "image/svg+xml", ".webp": "image/webp"}
TEXT_FILES = {".txt", ".log", ".json", ".yaml", ".yml", ".csv", ".md"}
LOG_BATCH = 500  # lines per server-sent event at most
MAX_INLINE_IMAGES = 12  # shown on the job page; the rest are in the tree


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def _when(stamp: float | None) -> str:
    return "–" if stamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def create_app(access: Access | None = None, store: JobStore | None = None, bind_host: str = "127.0.0.1") -> FastAPI:
    access = access or Access()
    dashboard = Dashboard(store)
    scratch = Path(tempfile.mkdtemp(prefix="launcher-ui-"))  # copies of remote outputs being downloaded

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        shutil.rmtree(scratch, ignore_errors=True)

    app = FastAPI(title="launcher ui", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.dashboard = dashboard
    app.state.access = access
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters.update(duration=_duration, when=_when, number=_number)
    templates.env.globals.update(csrf_field=CSRF_FIELD)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(AccessMiddleware, access=access)
    # On loopback, a page from another site that rebinds its DNS name to 127.0.0.1 sends its own Host: refused.
    if bind_host in LOOPBACK_HOSTS and access.token is None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "[::1]"])

    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"csrf": access.csrf, **context})

    def get_record(job_id: str) -> JobRecord:
        try:
            return dashboard.store.get(job_id)
        except JobNotFound:
            raise HTTPException(404, f"no job {job_id!r}") from None
        except UserError as error:
            raise HTTPException(400, redact(str(error))) from None

    def check_post(request: Request, csrf: str | None) -> None:
        if not access.csrf_ok(csrf) or not same_origin(request):
            raise HTTPException(403, "refused: the form's CSRF token is missing or wrong (reload the page)")

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> HTMLResponse | JSONResponse:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": error.detail}, status_code=error.status_code)
        return templates.TemplateResponse(
            request, "error.html", {"status": error.status_code, "detail": error.detail, "csrf": access.csrf},
            status_code=error.status_code,
        )

    # --- pages -------------------------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def jobs_page(
        request: Request,
        state: str = "",
        backend: str = "",
        recipe: str = "",
        page_no: Annotated[int, Query(alias="page")] = 1,
        fragment: str = "",
    ) -> HTMLResponse:
        data = dashboard.jobs_page(Filters(state=state, backend=backend, recipe=recipe, page=page_no))
        # The page polls `?fragment=rows` and swaps in the new rows: one template for both, no JS re-rendering.
        return page(request, "_fragment.html" if fragment == "rows" else "jobs.html", data=data)

    @app.get("/jobs/{job_id}", response_class=HTMLResponse)
    def job_page(request: Request, job_id: str) -> HTMLResponse:
        view = dashboard.job(get_record(job_id).id)
        files, cut = list_outputs(view.record.train_url)
        images = [f for f in files if Path(f.path).suffix.lower() in INLINE_IMAGES][:MAX_INLINE_IMAGES]
        return page(request, "job.html", view=view, files=files, cut=cut, images=images, tree=tree(files))

    @app.get("/compare", response_class=HTMLResponse)
    def compare_page(request: Request, job: Annotated[list[str], Query()] = []) -> HTMLResponse:  # noqa: B006
        ids = [get_record(j).id for j in job]
        records, differing, metrics = dashboard.compare(ids) if ids else ([], {}, {})
        choices = dashboard.store.list(limit=200)
        return page(request, "compare.html", records=records, differing=differing, metrics=metrics, choices=choices)

    # --- JSON and streams the pages poll -------------------------------------------------------------------------

    @app.get("/api/jobs")
    def jobs_json(state: str = "", backend: str = "", recipe: str = "", page_no: Annotated[int, Query(alias="page")] = 1) -> JSONResponse:
        data = dashboard.jobs_page(Filters(state=state, backend=backend, recipe=recipe, page=page_no))
        return JSONResponse(data.model_dump(mode="json"))

    @app.get("/api/jobs/{job_id}")
    def job_json(job_id: str) -> JSONResponse:
        view = dashboard.job(get_record(job_id).id)
        r = view.record
        return JSONResponse(
            {
                "id": r.id,
                "state": r.state.value,
                "terminal": r.state.terminal,
                "exit_code": r.exit_code,
                "reason": redact(r.reason),
                "duration": _duration(r.duration),
                "progress": view.progress.model_dump(mode="json", exclude={"history"}) if view.progress else None,
                "metrics": view.metrics,
                "failure": view.failure.model_dump() if view.failure else None,
            }
        )

    @app.get("/api/jobs/{job_id}/curves")
    def curves_json(job_id: str) -> JSONResponse:
        record = get_record(job_id)
        return JSONResponse({"series": [s.model_dump() for s in dashboard.curves(record)]})

    @app.get("/api/compare")
    def compare_json(job: Annotated[list[str], Query()] = []) -> JSONResponse:  # noqa: B006
        out = []
        for job_id in dict.fromkeys(job):
            record = get_record(job_id)
            out.append({"id": record.id, "series": [s.model_dump() for s in dashboard.curves(record)]})
        return JSONResponse({"jobs": out})

    @app.get("/api/jobs/{job_id}/logs/{rank}")
    async def log_events(
        request: Request, job_id: str, rank: int, last_event_id: Annotated[str | None, Header()] = None
    ) -> StreamingResponse:
        record = await run_in_threadpool(get_record, job_id)
        backend = await run_in_threadpool(dashboard.backend, record.backend)
        try:
            lines = await run_in_threadpool(backend.logs, record.id, True, rank)
        except UserError as error:
            raise HTTPException(404, redact(str(error))) from None
        skip = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
        return StreamingResponse(
            _log_stream(lines, skip),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    # --- files and actions -------------------------------------------------------------------------------------

    @app.get("/jobs/{job_id}/files/{path:path}")
    def download(job_id: str, path: str) -> FileResponse:
        record = get_record(job_id)
        try:
            local = fetch_output(record.train_url, path, scratch)
        except OutsideOutputs:
            raise HTTPException(400, "refused: that path is outside the job's outputs") from None
        except FileNotFoundError:
            raise HTTPException(404, f"no file {path!r} in the job's outputs") from None
        except StorageError as error:  # the store unreachable, or no train_url at all
            raise HTTPException(502, f"cannot read the outputs of {record.id}: {redact(str(error))}") from None
        suffix = Path(path).suffix.lower()
        copied = scratch in local.parents
        cleanup = BackgroundTask(shutil.rmtree, local.parent, ignore_errors=True) if copied else None
        if suffix in INLINE_IMAGES:
            media, disposition = INLINE_IMAGES[suffix], "inline"
        elif suffix in TEXT_FILES:
            media, disposition = "text/plain; charset=utf-8", "inline"
        else:
            media = mimetypes.guess_type(path)[0] or "application/octet-stream"
            disposition = "attachment"
        response = FileResponse(local, media_type=media, filename=Path(path).name, background=cleanup,
                                content_disposition_type=disposition)
        # A served SVG or HTML output runs no script and reaches nothing, even opened on its own.
        response.headers["content-security-policy"] = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
        return response

    async def posted_form(request: Request) -> None:
        """Our forms are url-encoded (no file fields), so the standard library parses them: no multipart parser."""
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise HTTPException(415, "send the form url-encoded, as the page's buttons do")
        body = await request.body()
        if len(body) > 4096:
            raise HTTPException(413, "form too large")
        fields = parse_qs(body.decode("utf-8", "replace"))
        check_post(request, (fields.get(CSRF_FIELD) or [None])[0])

    @app.post("/jobs/{job_id}/stop")
    async def stop(request: Request, job_id: str) -> RedirectResponse:
        await posted_form(request)
        record = await run_in_threadpool(get_record, job_id)
        try:
            await run_in_threadpool(dashboard.stop, record.id)  # a cancel: the job pushes, then it is STOPPED
        except UserError as error:
            raise HTTPException(400, redact(str(error))) from None
        return RedirectResponse(f"/jobs/{record.id}", status_code=303)

    @app.post("/jobs/{job_id}/restart")
    async def restart(request: Request, job_id: str) -> RedirectResponse:
        await posted_form(request)
        record = await run_in_threadpool(get_record, job_id)
        if not record.state.terminal:
            raise HTTPException(409, f"job {record.id} is still {record.state}: stop it before restarting it")
        try:
            new = await run_in_threadpool(dashboard.restart, record.id)
        except UserError as error:
            raise HTTPException(400, redact(str(error))) from None
        return RedirectResponse(f"/jobs/{new.id}", status_code=303)

    return app


async def _log_stream(lines: Iterator[str], skip: int) -> AsyncIterator[str]:
    """Server-sent events from a backend's blocking log follower.

    The follower runs in its own thread (it sleeps between reads) and hands lines over a bounded queue; when the
    browser goes away, the thread stops at its next line, or when the job ends. Event ids count lines, so a
    reconnecting EventSource (Last-Event-ID) resumes without repeating any."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=5000)
    gone = threading.Event()

    def pump() -> None:
        try:
            for line in lines:
                if not _put(line):
                    return
        except Exception as error:  # noqa: BLE001  (shown in the log pane rather than lost in a thread)
            _put(f"[launcher ui: log stream ended: {redact(str(error))}]\n")
        finally:
            _put(None)
            close = getattr(lines, "close", None)
            if close is not None:
                close()

    def _put(item: str | None) -> bool:
        while not gone.is_set():
            future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
            try:
                future.result(timeout=1.0)
                return True
            except TimeoutError:
                future.cancel()
            except RuntimeError:  # the loop is closed: the server is shutting down
                return False
        return False

    threading.Thread(target=pump, name="ui-log-follower", daemon=True).start()
    count = 0
    yield "retry: 2000\n\n"
    try:
        while True:
            item = await queue.get()
            batch: list[str] = []
            ended = item is None
            while item is not None:
                count += 1
                if count > skip:
                    batch.append(item)
                if len(batch) >= LOG_BATCH or queue.empty():
                    break
                item = queue.get_nowait()
                ended = item is None
            if batch:
                text = redact("".join(batch)).rstrip("\n")
                data = "\n".join(f"data: {line}" for line in text.split("\n"))
                yield f"id: {count}\nevent: lines\n{data}\n\n"
            if ended:
                yield f"id: {count}\nevent: end\ndata: \n\n"
                return
    finally:
        gone.set()
