"""Talks and Datasets: what the two media pipelines did, inside the Airflow UI.

Mounts the ``media_views`` FastAPI app at ``/media-views`` in the API server and adds UI entries for
it: two top-level pages (Talks, Datasets) and a tab on every DAG run ("Media", which shows the talk of a
``talkbot_publish_video`` run or the report of a ``tuttle_twins_dataset_sync`` run, and says in one line
that it has nothing for other DAGs: the UI offers plugin tabs by destination, not by DAG).

Plugin apps are mounted without authentication; every route of ``media_views.app`` depends on the API
server's own security dependencies. The app is imported lazily (``LazyApp``), so loading plugins in
schedulers and workers costs nothing; in the API server a pass-through root middleware (``WarmUp``),
built when the server handles its first request of any kind, imports it in a background thread, so
the first person to open a view does not wait for FastAPI, Jinja and Altair to load.
"""

from __future__ import annotations

import importlib
import threading

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/media-views"


class LazyApp:
    """ASGI app that imports ``media_views.app`` (FastAPI, Jinja, Altair) when first called."""

    def __init__(self, module: str) -> None:
        self.module = module
        self._app = None
        self._lock = threading.Lock()

    def load(self):
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = importlib.import_module(self.module).app
        return self._app

    async def __call__(self, scope, receive, send) -> None:
        await (self._app or self.load())(scope, receive, send)


APP = LazyApp("media_views.app")


class WarmUp:
    """Root middleware of the API server that only starts loading the views in the background."""

    def __init__(self, app) -> None:
        self.app = app
        threading.Thread(target=self.warm_up, name="media-views-warm-up", daemon=True).start()

    @staticmethod
    def warm_up() -> None:
        APP.load()
        importlib.import_module(APP.module).warm_up()

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


class MediaViewsPlugin(AirflowPlugin):
    name = "media_views"
    fastapi_apps = [  # noqa: RUF012 (AirflowPlugin's interface is class attributes)
        {"name": "media_views", "app": APP, "url_prefix": URL_PREFIX}
    ]
    fastapi_root_middlewares = [{"name": "media_views_warm_up", "middleware": WarmUp}]  # noqa: RUF012
    external_views = [  # noqa: RUF012
        {
            "name": "Talks",
            "href": f"{URL_PREFIX}/talks",
            "destination": "nav",
            "url_route": "media-talks",
            "nav_top_level": True,
        },
        {
            "name": "Datasets",
            "href": f"{URL_PREFIX}/datasets",
            "destination": "nav",
            "url_route": "media-datasets",
            "nav_top_level": True,
        },
        {
            "name": "Media",
            "href": f"{URL_PREFIX}/run/{{DAG_ID}}/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "media-run",
        },
    ]
