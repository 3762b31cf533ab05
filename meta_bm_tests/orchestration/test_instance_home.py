"""The instance and code location ``meta-bm run`` uses, from any working directory."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.workspace.load_target import ModuleTarget, WorkspaceFileTarget

from meta_bm.orchestration.runner import dagster_yaml_template, prepare_dagster_home, workspace_target

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def elsewhere(monkeypatch, tmp_path) -> Path:
    for name in ("DAGSTER_HOME", "META_BM_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_new_home_gets_the_packaged_instance_settings(elsewhere, monkeypatch):
    said: list[str] = []
    home = prepare_dagster_home(log=said.append)
    assert home == elsewhere / ".dagster_home" and (home / "dagster.yaml").read_text() == dagster_yaml_template()
    assert said == [f"new Dagster instance: wrote {home / 'dagster.yaml'} from the packaged template"]
    assert os.environ["DAGSTER_HOME"] == str(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_coordinator.dequeue_interval_seconds == 1
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1  # one DuckDB step at a time
    # an existing dagster.yaml is that instance's own: never rewritten
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", "home")  # relative: against the working directory
    assert prepare_dagster_home(log=said.append) == elsewhere / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert prepare_dagster_home(log=said.append) == home and len(said) == 2
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def test_the_checkout_instance_is_the_packaged_template():
    """The repository's ``.dagster_home/dagster.yaml`` is generated from the template (when present)."""
    checkout = REPO / ".dagster_home" / "dagster.yaml"
    if checkout.exists():
        assert checkout.read_text() == dagster_yaml_template()


def test_code_location_from_the_workspace_file_or_the_installed_module(elsewhere, monkeypatch):
    target, where = workspace_target()
    assert isinstance(target, ModuleTarget) and where == "module meta_bm.definitions"
    [origin] = target.create_origins()
    assert origin.location_name == "meta_bm" and origin.loadable_target_origin.working_directory is None
    (elsewhere / "workspace.yaml").write_text((REPO / "workspace.yaml").read_text())
    target, where = workspace_target()
    assert isinstance(target, WorkspaceFileTarget) and where == str(elsewhere / "workspace.yaml")
    assert [o.location_name for o in target.create_origins()] == ["meta_bm"]
    monkeypatch.setenv("META_BM_WORKSPACE", str(REPO / "workspace.yaml"))
    assert workspace_target()[1] == str(REPO / "workspace.yaml")
