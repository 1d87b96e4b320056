"""The failure alert: its text names what failed, and it arrives on a subscribed queue."""

from __future__ import annotations

from types import SimpleNamespace

from include.common.alerts import format_failure, notify_failure


def _ti(task_id, map_index=-1):
    return SimpleNamespace(task_id=task_id, map_index=map_index, dag_id="d", run_id="r")


class _Run:
    dag_id = "tuttle_twins_dataset_sync"
    run_id = "scheduled__2026-11-20"

    def get_task_instances(self, state=None):
        return [_ti("load_episode", 1), _ti("write_report")]


def test_dag_level_alert_names_failed_tasks():
    subject, body = format_failure({"dag_run": _Run(), "reason": "task_failure"})
    assert subject == "Airflow failure: tuttle_twins_dataset_sync"
    assert "scheduled__2026-11-20" in body
    assert "load_episode[1], write_report" in body


def test_task_level_alert_names_task_and_exception():
    ti = _ti("render_video")
    subject, body = format_failure({"ti": ti, "exception": ValueError("end beyond the recording")})
    assert subject == "Airflow failure: d.render_video"
    assert body == "d.render_video failed in run r: end beyond the recording"


def test_alert_reaches_subscribed_queue(alerts):
    notify_failure({"ti": _ti("publish_video"), "exception": RuntimeError("quota")})

    assert alerts() == ["d.publish_video failed in run r: quota"]


def test_alert_without_topic_only_logs(monkeypatch, caplog):
    monkeypatch.delenv("ALERTS_SNS_TOPIC_ARN", raising=False)
    notify_failure({"ti": _ti("x"), "exception": RuntimeError("boom")})
    assert "No alert topic configured" in caplog.text
