"""The Talks and Datasets views in a real API server and a real headless Chromium."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import quote

import pytest

from tests.ui.conftest import OTHER_DAG
from tests.ui.server import api

pytestmark = pytest.mark.e2e


def _get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _view_urls(server: dict) -> list[str]:
    talks = server["data"]["talks"]
    return [
        f"/media-views/talks/{talks.slug}",
        f"/media-views/talks/{talks.slug}/{talks.published_uuid}",
        f"/media-views/datasets?bucket={server['data']['bucket']}",
        f"/media-views/run/talkbot_publish_video/{quote(talks.run_ids[talks.published_uuid], safe='')}",
        "/media-views/static/vendor/vega.min.js",
    ]


def test_anonymous_requests_are_refused(api_server):
    for path in _view_urls(api_server):
        status, _, body = _get(api_server["base"] + path)
        assert status == 401, f"{path}: {status} {body[:200]!r}"
        status, headers, _ = _get(api_server["base"] + path, {"Accept": "text/html"})
        assert status == 307, path
        assert "/auth/login" in headers["location"], headers["location"]


def test_signed_in_requests_are_served(api_server):
    for path in _view_urls(api_server):
        status, _, body = _get(api_server["base"] + path, {"Authorization": f"Bearer {api_server['token']}"})
        assert status == 200, f"{path}: {status} {body[:300]!r}"


def test_plugin_is_listed_with_its_views(api_server):
    status, body = api(api_server, "GET", "/api/v2/plugins")
    assert status == 200
    plugin = next(p for p in body["plugins"] if p["name"] == "media_views")
    assert [(a["name"], a["url_prefix"]) for a in plugin["fastapi_apps"]] == [("media_views", "/media-views")]
    views = {v["name"]: v for v in plugin["external_views"]}
    assert {n: views[n]["destination"] for n in views} == {
        "Talks": "nav",
        "Datasets": "nav",
        "Media": "dag_run",
    }
    assert views["Media"]["href"] == "/media-views/run/{DAG_ID}/{RUN_ID}"


def _rendered_charts(page, expected: int) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('.chart[data-rendered]').length >= {expected}", timeout=20000
    )
    states = page.eval_on_selector_all(".chart", "els => els.map(e => e.dataset.rendered)")
    assert states == ["1"] * expected, states
    marks = page.eval_on_selector_all(
        ".chart svg .mark-rect path, .chart svg .mark-symbol path", "els => els.length"
    )
    assert marks > 0, "charts rendered no marks"


def test_talks_view(page, api_server, screenshots):
    talks = api_server["data"]["talks"]
    page.goto(f"{api_server['base']}/media-views/talks/{talks.slug}")
    _rendered_charts(page, 1)
    rows = page.eval_on_selector_all(
        "table.talks tbody tr", "rs => rs.map(r => [r.dataset.uuid, r.dataset.status])"
    )
    assert dict(rows) == talks.statuses
    failed = page.locator(f"tr[data-uuid='{list(talks.statuses)[1]}']")
    assert "moov atom not found" in failed.inner_text()
    published = page.locator(f"tr[data-uuid='{talks.published_uuid}']")
    assert (
        published.locator("a", has_text="youtube")
        .get_attribute("href")
        .startswith("https://www.youtube.com/watch?v=")
    )
    run_href = published.locator("td.run a").get_attribute("href")
    assert (
        run_href == f"/dags/talkbot_publish_video/runs/{quote(talks.run_ids[talks.published_uuid], safe='')}"
    )
    page.screenshot(path=str(screenshots / "talks.png"), full_page=True)
    assert page.errors == []

    page.select_option("select[name=status]", "not uploaded")
    page.click("form.filters button")
    page.wait_for_load_state()
    shown = page.eval_on_selector_all("table.talks tbody tr", "rs => rs.map(r => r.dataset.status)")
    assert shown == ["not uploaded", "not uploaded"]
    page.fill("input[name=q]", "knuth")
    page.click("form.filters button")
    page.wait_for_load_state()
    titles = page.eval_on_selector_all(
        "table.talks tbody tr td:first-child a", "as => as.map(a => a.textContent)"
    )
    assert titles == ["Dataset splits that never move"]
    assert page.errors == []


def test_talk_page_plays_the_library_video(page, api_server, screenshots):
    talks = api_server["data"]["talks"]
    page.goto(f"{api_server['base']}/media-views/talks/{talks.slug}/{talks.published_uuid}")
    _rendered_charts(page, 1)
    video = page.locator("#talk-video")
    src = video.get_attribute("src")
    assert f"/{talks.library_bucket}/{talks.slug}/{talks.published_uuid}.mp4" in src
    assert "Signature=" in src
    page.wait_for_function("document.querySelector('#talk-video').readyState >= 1", timeout=20000)
    duration = page.evaluate("document.querySelector('#talk-video').duration")
    assert duration == pytest.approx(6.0, abs=0.2)
    text = page.inner_text("main")
    assert "ada@example.org" in text
    assert "sent (updated recording)" in text
    assert "failed: 550 5.1.1 mailbox unavailable" in text  # a refused address, with the server's answer
    facebook = page.locator("table.kv tr", has_text="https://www.facebook.com/page/videos/9001/")
    assert "replaced video 8001 (private)" in facebook.inner_text()
    youtube = page.locator("table.kv tr", has_text="watch?v=")
    assert "replaced video oldvid (private)" in youtube.inner_text()
    assert "secret" not in page.content()  # neither upload session reaches the page
    page.screenshot(path=str(screenshots / "talk.png"), full_page=True)
    assert page.errors == []


def test_datasets_view(page, api_server, screenshots):
    page.goto(f"{api_server['base']}/media-views/datasets?bucket={api_server['data']['bucket']}")
    _rendered_charts(page, 3)
    kpis = page.inner_text("section.kpis")
    assert "300 frames" in kpis
    assert "210 train" in kpis
    assert "2 episodes" in kpis
    runs = page.eval_on_selector_all("table.runs tbody tr", "rs => rs.map(r => r.dataset.runId)")
    assert runs == list(reversed(api_server["data"]["runs"]))
    last = page.locator("table.runs tbody tr").first.inner_text()
    assert "S01E02" in last  # held back
    page.screenshot(path=str(screenshots / "datasets.png"), full_page=True)
    assert page.errors == []


def _tab_frame(page, api_server, dag_id: str, run_id: str):
    page.goto(f"{api_server['base']}/dags/{dag_id}/runs/{quote(run_id, safe='')}/plugin/media-run")
    page.wait_for_selector("iframe", timeout=30000)
    return _frame(page, "/media-views/run/")


def _frame(page, fragment: str):
    """The iframe the Airflow UI opened on one of our pages, once it has loaded."""
    for _ in range(100):
        found = [f for f in page.frames if fragment in f.url]
        if found:
            found[0].wait_for_load_state()
            return found[0]
        page.wait_for_timeout(200)
    raise AssertionError(f"no frame on {fragment} in {[f.url for f in page.frames]}")


def test_run_tabs_in_the_airflow_ui(page, api_server, screenshots):
    talks = api_server["data"]["talks"]
    run_id = talks.run_ids[talks.published_uuid]
    frame = _tab_frame(page, api_server, "talkbot_publish_video", run_id)
    frame.wait_for_selector("#talk-video")
    assert talks.titles[talks.published_uuid] in frame.inner_text("h1")
    frame.wait_for_function("document.querySelector('#talk-video').readyState >= 1", timeout=20000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshots / "talk-run-tab.png"), full_page=True)

    sync_run = api_server["data"]["runs"][-1]
    frame = _tab_frame(page, api_server, "tuttle_twins_dataset_sync", sync_run)
    frame.wait_for_function(
        "document.querySelectorAll('.chart[data-rendered=\"1\"]').length >= 1", timeout=20000
    )
    held = frame.inner_text("table.held")
    assert "S01E02" in held
    assert "sheet lost 45 % of its rows" in held
    assert "54" in held
    assert "rejected" in held
    assert "Approval: rejected by admin" in frame.inner_text("main")
    assert "TT_S01_E01_FRM-0000059" in frame.inner_text("table.invalid")
    assert frame.locator("#plan-link").get_attribute("href").count("plan.csv") == 1
    assert frame.locator("#report-link").is_visible()
    page.screenshot(path=str(screenshots / "sync-run-tab.png"), full_page=True)

    unanswered = api_server["data"]["runs"][1]
    frame = _tab_frame(page, api_server, "tuttle_twins_dataset_sync", unanswered)
    frame.wait_for_selector("table.held")
    held = frame.inner_text("table.held")
    assert "S01E02" in held
    assert "not asked" in held
    warning = frame.inner_text("p.warning")
    assert "no answer was recorded" in warning
    assert "clear approve_held_changes to be asked again" in warning
    page.screenshot(path=str(screenshots / "sync-run-no-answer.png"), full_page=True)

    frame = _tab_frame(page, api_server, OTHER_DAG, "manual__media_views_test")
    assert frame.inner_text("main").strip() == (
        f"The Media tab shows talkbot_publish_video and tuttle_twins_dataset_sync runs; {OTHER_DAG} has nothing to show here."
    )
    assert page.errors == [], page.errors


def test_top_level_entries_open_the_views_inside_airflow(page, api_server, screenshots):
    talks = api_server["data"]["talks"]
    page.goto(f"{api_server['base']}/plugin/media-talks")
    page.wait_for_selector("iframe", timeout=30000)
    page.get_by_role("link", name="Talks", exact=True).wait_for(timeout=20000)  # top-level nav entries
    assert (
        page.get_by_role("link", name="Datasets", exact=True)
        .get_attribute("href")
        .endswith("/plugin/media-datasets")
    )
    frame = _frame(page, "/media-views/talks/")
    frame.wait_for_selector("table.talks tbody tr")
    frame.wait_for_function(
        "document.querySelectorAll('.chart[data-rendered=\"1\"]').length >= 1", timeout=20000
    )
    assert frame.locator("table.talks tbody tr").count() == len(talks.statuses)
    page.screenshot(path=str(screenshots / "talks-in-airflow.png"))
    assert page.errors == [], page.errors
