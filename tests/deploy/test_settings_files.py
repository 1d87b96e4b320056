"""airflow_settings.yaml and deploy/pools.json describe one set of pools; no placeholder connections."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from devstack import topology as topo

REPO = Path(__file__).resolve().parents[2]


def test_astro_settings_pools_equal_the_deployed_pools_file():
    settings = yaml.safe_load((REPO / "airflow_settings.yaml").read_text())["airflow"]
    from_settings = {p["pool_name"]: (p["pool_slot"], p["pool_description"]) for p in settings["pools"]}
    deployed = {
        name: (p["slots"], p["description"]) for name, p in json.loads(topo.POOLS_FILE.read_text()).items()
    }
    assert from_settings == deployed


def test_settings_load_no_placeholder_connections():
    settings = yaml.safe_load((REPO / "airflow_settings.yaml").read_text())["airflow"]
    assert not settings.get("connections"), "connections come from the secrets backend or AIRFLOW_CONN_*"
    assert "127.0.0.1" not in json.dumps(settings)


def test_readme_makes_no_astro_cli_claim():
    readme = (REPO / "README.md").read_text()
    assert "astro dev start" not in readme.replace("`astro dev start` is not supported", "")
