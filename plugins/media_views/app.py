"""The Talks and Datasets pages, mounted by ``media_views_plugin`` at ``/media-views`` in the API server.

Every route depends on the API server's security dependencies (``requires_access_dag`` for pages about
a DAG's data, ``get_user`` for the static files): a request without a valid Airflow session gets 401,
and a browser navigating here without one is sent to the login page. Pages read small summaries
(``include.ui_views``), so they answer in well under a second for a 1,000-talk conference or a
1,000,000-frame dataset.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import get_user, requires_access_dag
from botocore.exceptions import ClientError
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from include.dataset_sync.config import DEFAULT_BUCKET
from include.ui_views import datasets, summaries, talks
from include.video_publishing.config import ConfigError
from media_views import charts

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TALKBOT_DAG = "talkbot_publish_video"
SYNC_DAG = "tuttle_twins_dataset_sync"
RUN_TAB_ROUTE = "media-run"
PRESIGN_SECONDS = 900
AWS_CONN_ID = "aws_default"

app = FastAPI(title="Media views", docs_url=None, redoc_url=None, openapi_url=None)
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]), trim_blocks=True
)
templates.globals.update(embed=charts.embed, colours=talks.STATUS_COLOURS, quote=quote)

CanReadTalks = Depends(requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=TALKBOT_DAG))
CanReadDatasets = Depends(requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=SYNC_DAG))
CanReadRun = Depends(requires_access_dag("GET", DagAccessEntity.RUN))

_summary_cache = summaries.SummaryCache()
_sheet_cache = talks.SheetCache()
_client_lock = threading.Lock()
_client: Any = None


def s3_client() -> Any:
    """One S3 client per API server process (clients are thread-safe; building one costs ~100 ms)."""
    global _client  # noqa: PLW0603
    if _client is None:
        with _client_lock:
            if _client is None:
                from airflow.providers.amazon.aws.hooks.s3 import S3Hook

                _client = S3Hook(aws_conn_id=AWS_CONN_ID).get_conn()
    return _client


def warm_up() -> None:
    """Build what the first page would otherwise wait for: the compiled templates, the S3 client, each
    conference's summary and talk sheet. Best effort: a failure here only leaves the first page slower."""
    for name in ("talks.html", "talk.html", "datasets.html", "dataset_run.html", "message.html"):
        templates.get_template(name)
    try:
        config = talks.load_config()
        for slug in config.conferences:
            talks.conference_view(s3_client(), _summary_cache, _sheet_cache, config, slug)
    except Exception as err:
        log.info("media views: nothing prefetched (%s: %s)", type(err).__name__, err)


def presign(bucket: str, key: str) -> str:
    return s3_client().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGN_SECONDS
    )


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    base = str(request.scope.get("root_path", "")).rstrip("/")
    html = templates.get_template(template).render(base=base, **context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """A browser page request without a session goes to the login page; other requests get the error."""
    from airflow.api_fastapi.app import get_auth_manager

    headers = getattr(exc, "headers", None)
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
    if exc.status_code == 401 and request.method == "GET":
        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=307)
    return page(
        request, "message.html", message=f"{exc.status_code}: {exc.detail}", status_code=exc.status_code
    )


@app.exception_handler(ClientError)
async def s3_error(request: Request, exc: ClientError) -> Response:
    """S3 refused (no such bucket, no access): say so on the page instead of a bare 500."""
    log.warning("S3 error on %s: %s", request.url.path, exc)
    return page(request, "message.html", message=f"S3 could not answer this page: {exc}", status_code=502)


@app.get("/static/{name}", dependencies=[Depends(get_user)])
def static(name: str) -> FileResponse:
    """The plugin's own CSS/JS and the vendored chart libraries (no CDN, nothing from the internet)."""
    path = (STATIC / name).resolve()
    if path.parent not in {STATIC, STATIC / "vendor"} or not path.is_file():
        raise HTTPException(404, "no such file")
    return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


@app.get("/static/vendor/{name}", dependencies=[Depends(get_user)])
def vendor(name: str) -> FileResponse:
    return static(f"vendor/{name}")


# ------------------------------------------------------------------------------------------- talks
def _config() -> talks.TalkbotConfig:
    try:
        return talks.load_config()
    except (ConfigError, KeyError) as err:
        raise HTTPException(503, f"talkbot_config is not usable: {err}") from None


@app.get("/talks", dependencies=[CanReadTalks], response_class=HTMLResponse)
def talks_index(request: Request) -> Response:
    """The first conference (a picker on the page switches)."""
    config = _config()
    slug = sorted(config.conferences)[0]
    return RedirectResponse(f"{request.scope.get('root_path', '')}/talks/{quote(slug)}", status_code=307)


@app.get("/talks/{conference}", dependencies=[CanReadTalks], response_class=HTMLResponse)
def conference_page(
    request: Request,
    conference: str,
    status: Annotated[str, Query(max_length=40)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    config = _config()
    if conference not in config.conferences:
        raise HTTPException(404, f"no conference {conference!r} in talkbot_config")
    view = talks.conference_view(s3_client(), _summary_cache, _sheet_cache, config, conference)
    counts = view.counts()
    rows = view.filtered(status, q)
    return page(
        request,
        "talks.html",
        conference=conference,
        conferences=sorted(config.conferences),
        view=view,
        rows=rows,
        counts=counts,
        statuses=talks.STATUSES,
        status=status,
        q=q,
        chart=charts.status_counts(counts),
        dag_id=TALKBOT_DAG,
    )


@app.get("/talks/{conference}/{uuid}", dependencies=[CanReadTalks], response_class=HTMLResponse)
def talk_page(request: Request, conference: str, uuid: str) -> HTMLResponse:
    config = _config()
    if conference not in config.conferences:
        raise HTTPException(404, f"no conference {conference!r} in talkbot_config")
    view = talks.conference_view(s3_client(), _summary_cache, _sheet_cache, config, conference)
    row = next((r for r in view.rows if r.uuid.lower() == uuid.lower()), None)
    if row is None:
        raise HTTPException(404, f"talk {uuid} is neither in the sheet nor in the ledger of {conference}")
    return page(request, "talk.html", **_talk_context(config, conference, row, tab=False))


def _talk_context(config: talks.TalkbotConfig, slug: str, row: talks.TalkRow, tab: bool) -> dict[str, Any]:
    conference = config.conference(slug)
    record = row.record or {}
    library_key = record.get("library_key") or conference.library_key(row.uuid)
    video_url = None
    if row.record:
        try:
            s3_client().head_object(Bucket=conference.library_bucket, Key=library_key)
            video_url = presign(conference.library_bucket, library_key)
        except ClientError:
            video_url = None
    events = talks.timeline(record) if record else []
    return {
        "conference": slug,
        "row": row,
        "record": record,
        "video_url": video_url,
        "library": f"s3://{conference.library_bucket}/{library_key}",
        "events": events,
        "chart": charts.talk_timeline(events) if events else None,
        "emails": sorted((record.get("emails") or {}).items()),
        "destinations": talks.destination_details(record),
        "publishers": conference.publishers,
        "playlist": conference.youtube.playlist_id,
        "dag_id": TALKBOT_DAG,
        "tab": tab,
    }


# ---------------------------------------------------------------------------------------- datasets
@app.get("/datasets", dependencies=[CanReadDatasets], response_class=HTMLResponse)
def datasets_page(
    request: Request, bucket: Annotated[str, Query(max_length=63)] = DEFAULT_BUCKET
) -> HTMLResponse:
    summary = datasets.dataset_summary(s3_client(), _summary_cache, bucket)
    composition = datasets.composition_rows(summary)
    changes = datasets.change_rows(summary)
    episodes = sorted({r["episode"] for r in changes} | {r["episode"] for r in composition} - {"all"})
    runs = list(reversed(summary.get("runs") or []))
    return page(
        request,
        "datasets.html",
        bucket=bucket,
        totals=datasets.composition_totals(composition),
        composition_split=charts.composition_by_split(composition) if composition else None,
        composition_episode=charts.composition_by_episode(composition) if composition else None,
        changes=charts.changes_over_time(changes, episodes) if changes else None,
        runs=runs,
        outcome=datasets.run_outcome,
        kinds=summaries.CHANGE_KINDS,
        dag_id=SYNC_DAG,
        tab_route=RUN_TAB_ROUTE,
        composition_run=summary.get("composition_run_id"),
    )


# -------------------------------------------------------------------------------------- run tab
@app.get("/run/{dag_id}/{run_id}", dependencies=[CanReadRun], response_class=HTMLResponse)
def run_tab(request: Request, dag_id: str, run_id: str) -> HTMLResponse:
    """The "Media" tab of a DAG run: the talk of a publish run, the report of a sync run, else one line."""
    if dag_id == TALKBOT_DAG:
        config = _config()
        found = talks.find_run(s3_client(), _summary_cache, config, run_id)
        if found is None:
            return page(request, "message.html", message=f"Run {run_id} has no ledger record yet: it has not inspected its upload (queued, or failed before that).")  # fmt: skip
        slug, entry = found
        view = talks.conference_view(s3_client(), _summary_cache, _sheet_cache, config, slug)
        row = next((r for r in view.rows if r.uuid.lower() == str(entry.get("uuid", "")).lower()), None)
        if row is None:
            return page(request, "message.html", message=f"Run {run_id}: talk {entry.get('uuid')} not found.")
        return page(request, "talk.html", **_talk_context(config, slug, row, tab=True), run_id=run_id)
    if dag_id == SYNC_DAG:
        bucket = _run_bucket(dag_id, run_id)
        report = datasets.run_report(s3_client(), bucket, run_id)
        if report is None:
            return page(request, "message.html", message=f"Run {run_id} has written no plan or report in s3://{bucket}/ yet.")  # fmt: skip
        prefix = f"{summaries.SYNC_RUNS_PREFIX}{run_id}/"
        entry = summaries.run_entry(report, "")
        rows = [
            {"episode": e, "kind": k, "count": n}
            for e, counts in sorted(entry["episodes"].items())
            for k, n in counts.items()
            if n
        ]
        links = {
            name: presign(bucket, f"{prefix}{name}")
            for name, written in report.get("_written", {}).items()
            if written
        }
        return page(
            request,
            "dataset_run.html",
            run_id=run_id,
            bucket=bucket,
            report=report,
            plan=report.get("plan") or {},
            entry=entry,
            links=links,
            chart=charts.run_changes_by_episode(rows) if rows else None,
            kinds=summaries.CHANGE_KINDS,
        )
    return page(
        request,
        "message.html",
        message=f"The Media tab shows {TALKBOT_DAG} and {SYNC_DAG} runs; {dag_id} has nothing to show here.",
    )


def _run_bucket(dag_id: str, run_id: str) -> str:
    """The bucket a sync run worked on: its ``bucket`` Param as triggered, else the default."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        conf = session.scalar(select(DagRun.conf).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    bucket = (conf or {}).get("bucket") if isinstance(conf, dict) else None
    return str(bucket or DEFAULT_BUCKET)
