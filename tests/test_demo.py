"""``make demo`` end to end: a healthy UI on 127.0.0.1, stand-ins answering, Ctrl-C leaves nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def _processes_using(home) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("AIRFLOW_HOME") == str(home):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_demo_starts_healthy_and_ctrl_c_stops_everything(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))}
    env["PYTHONPATH"] = str(REPO)
    demo = subprocess.Popen(
        [sys.executable, "-m", "devstack.demo", "--port", "0", "--state", str(tmp_path)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(output)
        assert "Press Ctrl-C" in text, text

        ui = re.search(r"Airflow UI:\s+(http://127\.0\.0\.1:\d+)\s+login: admin / (\S+)", text)
        assert ui, text
        with urllib.request.urlopen(f"{ui.group(1)}/api/v2/monitor/health", timeout=10) as response:
            assert response.status == 200
        moto = re.search(r"AWS \(moto\):\s+(http://127\.0\.0\.1:\d+)", text).group(1)
        with urllib.request.urlopen(f"{moto}/moto-api/", timeout=10) as response:
            assert response.status == 200
        home = tmp_path / ".airflow"
        assert _processes_using(home), "standalone should be running before Ctrl-C"

        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        rest, _ = demo.communicate(timeout=120)
        assert demo.returncode == 0, rest
        assert "Stopped." in rest
        time.sleep(1)
        assert _processes_using(home) == []
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{ui.group(1)}/api/v2/monitor/health", timeout=3)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
