"""``make demo``: the stand-in stack plus ``airflow standalone`` on one laptop, until Ctrl-C.

Starts moto, the SMTP sink and the Google stand-in; prepares ``.airflow/`` (SQLite,
LocalExecutor, examples off, parallelism sized to the machine, API on 127.0.0.1);
imports the variables and pools of ``airflow_settings.yaml``; seeds each pipeline's
demo data; starts ``airflow standalone`` in its own process group and waits for the
health endpoint; prints where to look. Ctrl-C stops standalone with SIGINT (SIGTERM
would leave its scheduler and workers running), then anything still alive in that
process group or using this AIRFLOW_HOME, then the stand-ins.

``--smoke`` does everything up to a healthy UI, checks it, and stops again (tests use it).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from devstack import LocalStack
from devstack.net import free_port

REPO = Path(__file__).resolve().parent.parent
DEMO_SEEDERS = ("devstack.demo_dataset_sync", "devstack.demo_talkbot")
HEALTH_TIMEOUT_S = 240
STOP_TIMEOUT_S = 30


def airflow_environment(stack: LocalStack, home: Path, port: int) -> dict[str, str]:
    cores = os.cpu_count() or 2
    env = os.environ.copy()
    env.update(stack.env)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(cores * 2),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # timeout=30: every process (and a CLI command run beside them) waits up to 30 s, not
            # sqlite3's 5 s, for another one's write lock; Airflow derives the async (aiosqlite) URL
            # from this one, so both engines get it.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}?timeout=30",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "10",
            "GOOGLE_APPLICATION_CREDENTIALS": "",
            "NO_GCE_CHECK": "True",
            "PYTHONPATH": str(REPO),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    return env


def airflow(env: dict[str, str], *args: str) -> str:
    """Run one Airflow CLI command; raise with its output if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"airflow {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return result.stdout


def import_settings(env: dict[str, str], variables: dict[str, str]) -> list[str]:
    """Variables and pools from airflow_settings.yaml (connections come from the stack's env)."""
    settings = yaml.safe_load((REPO / "airflow_settings.yaml").read_text())["airflow"]
    cores = os.cpu_count() or 2
    done = []
    for pool in settings.get("pools") or []:
        slots = cores if pool["pool_name"] == "render" else pool["pool_slot"]
        airflow(env, "pools", "set", pool["pool_name"], str(slots), pool.get("pool_description", ""))
        done.append(f"pool {pool['pool_name']} = {slots} slots")
    merged = {v["variable_name"]: str(v.get("variable_value") or "") for v in settings.get("variables") or []}
    merged.update(variables)
    for name, value in merged.items():
        airflow(env, "variables", "set", name, value)
        done.append(f"variable {name}")
    return done


def seed(stack: LocalStack, workdir: Path) -> tuple[list[str], dict[str, str]]:
    """Each pipeline's demo data; a pipeline without a seeder yet is skipped."""
    lines: list[str] = []
    variables: dict[str, str] = {}
    for name in DEMO_SEEDERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        lines += module.seed(stack, workdir)
        if hasattr(module, "variables"):
            variables.update(module.variables(stack))
    return lines, variables


def start_standalone(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """``airflow standalone`` in its own process group (so SIGINT reaches all of it), logging to a file."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_healthy(port: int, process: subprocess.Popen, log_path: Path) -> dict:
    url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"airflow standalone exited ({process.returncode}); see {log_path}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                last = json.load(response)
            if all(last.get(c, {}).get("status") == "healthy" for c in ("metadatabase", "scheduler")):
                return last
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"{url} not healthy after {HEALTH_TIMEOUT_S}s (last answer {last}); see {log_path}")


def admin_password(home: Path) -> str:
    path = home / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    return json.loads(path.read_text()).get("admin", "?") if path.exists() else f"(see {path})"


def leftover_processes(pgid: int, home: Path) -> list:
    """Processes still in standalone's group or running with this AIRFLOW_HOME."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            if os.getpgid(proc.pid) == pgid or proc.environ().get("AIRFLOW_HOME") == str(home):
                found.append(proc)
    return found


def stop_standalone(process: subprocess.Popen, home: Path) -> None:
    """SIGINT to the whole group, then escalate for anything that outlives it."""
    pgid = process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        procs = leftover_processes(pgid, home)
        if not procs:
            return
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.send_signal(sig)
        time.sleep(3)
    if process.poll() is None:
        process.kill()


def run(port: int, smoke: bool, state: Path) -> int:
    workdir = state / ".demo"
    home = state / ".airflow"
    home.mkdir(parents=True, exist_ok=True)
    with LocalStack(workdir, save_mail=True) as stack:
        env = airflow_environment(stack, home, port)
        print("Preparing the Airflow database (.airflow/airflow.db)…", flush=True)
        airflow(env, "db", "migrate")
        seed_lines, variables = seed(stack, workdir)
        settings_lines = import_settings(env, variables)
        log_path = workdir / "standalone.log"
        process = start_standalone(env, log_path)
        interrupted = False
        try:
            print(f"Starting airflow standalone (log: {log_path})…", flush=True)
            health = wait_healthy(port, process, log_path)
            password = admin_password(home)
            print("\n".join(["", f"Airflow UI:  http://127.0.0.1:{port}   login: admin / {password}"]))
            print(f"Health:      {json.dumps({k: v.get('status') for k, v in health.items()})}")
            print(f"Views:       http://127.0.0.1:{port}/plugin/media-talks  and /plugin/media-datasets")
            print(f"AWS (moto):  {stack.aws_endpoint}   (aws --endpoint-url {stack.aws_endpoint} s3 ls)")
            print(f"SMTP sink:   127.0.0.1:{stack.smtp.port}   mail saved in {workdir / 'mail'}")
            print(f"Google:      {stack.google.root_url}   sheets in {stack.google.sheets_dir}")
            print(f"             YouTube uploads in {stack.google.youtube_dir}")
            print(f"Facebook:    {stack.facebook.root_url}   Page videos in {stack.facebook.videos_dir}")
            for line in settings_lines + seed_lines:
                print(f"  - {line}")
            if smoke:
                return 0
            print("\nRunning. Press Ctrl-C to stop everything.", flush=True)
            while process.poll() is None:
                time.sleep(1)
            print(f"airflow standalone exited with {process.returncode}; see {log_path}")
            return 1
        except KeyboardInterrupt:
            interrupted = True
            return 0
        finally:
            print("\nStopping airflow standalone…" if interrupted or smoke else "Stopping…", flush=True)
            stop_standalone(process, home)
            print("Stopped. Stand-ins stopping.", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="API/UI port (0 = any free port)")
    parser.add_argument("--smoke", action="store_true", help="start, check health, stop")
    parser.add_argument("--state", type=Path, default=REPO, help="where .airflow/ and .demo/ live")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    return run(args.port or free_port(), args.smoke, args.state.resolve())


if __name__ == "__main__":
    sys.exit(main())
