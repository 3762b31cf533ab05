"""Start and stop meta_bm's shared deployment on one machine: every component a separate process.

Components, in start order (each its own process and process group; PIDs in ``<state>/pids.json``):

1. PostgreSQL (``deploy/postgres.py``): the Dagster instance's database and the cohort store's;
2. a Dask scheduler and 2 Dask workers (``dask scheduler`` / ``dask worker``, one thread each);
3. the code location ``meta_bm`` as a gRPC code server (``dagster code-server start``);
4. ``dagster-daemon`` (run queue, sensors, schedules, automation, run monitoring);
5. ``dagster-webserver`` on 127.0.0.1.

``stop`` ends them in reverse order by the PIDs recorded at start (SIGTERM to each process group, SIGKILL
after a grace period; PostgreSQL with ``pg_ctl stop -m fast``). Nothing is found by name, so other
PostgreSQL or Dagster processes on the machine are never touched.

Settings come from the environment only; the stack fails before starting anything when one is missing:

* ``META_BM_STUDIES``, ``META_BM_OUTPUT``: the study folders and the output folder;
* ``META_BM_PG_HOST`` (this machine: 127.0.0.1 or localhost), ``META_BM_PG_PORT``, ``META_BM_PG_USER``,
  ``META_BM_PG_PASSWORD``, ``META_BM_PG_DATABASE`` (cohort), ``META_BM_DAGSTER_PG_DATABASE`` (instance);
* ``META_BM_DASK_SCHEDULER`` (``tcp://127.0.0.1:<port>``), ``META_BM_CODE_SERVER_PORT``,
  ``META_BM_WEBSERVER_PORT``, ``META_BM_DASK_DASHBOARD_PORT`` (optional; default: no dashboard);
* optional: ``META_BM_STUDIES_PER_RUN`` (see ``meta_bm.settings.studies_per_run``), ``META_BM_ANALYSES``.

Usage::

    .venv/bin/python deploy/stack.py start --state /srv/meta_bm/stack
    source /srv/meta_bm/stack/stack.env      # DAGSTER_HOME, META_BM_DEPLOYMENT=shared, ... (no password)
    .venv/bin/meta-bm run                    # queued runs, executed on the Dask workers
    .venv/bin/python deploy/stack.py stop --state /srv/meta_bm/stack
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `deploy` and `meta_bm` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy.postgres import PostgresServer, wait_for_port
from meta_bm import settings

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
WORKERS = 2
LOCAL_HOSTS = ("127.0.0.1", "localhost")
CODE_SERVER_PORT_VAR = "META_BM_CODE_SERVER_PORT"
WEBSERVER_PORT_VAR = "META_BM_WEBSERVER_PORT"
DASHBOARD_PORT_VAR = "META_BM_DASK_DASHBOARD_PORT"
REQUIRED = (
    settings.STUDIES_VAR, settings.OUTPUT_VAR, settings.PG_HOST_VAR, settings.PG_PORT_VAR, settings.PG_USER_VAR,
    settings.PG_PASSWORD_VAR, settings.PG_DATABASE_VAR, settings.DAGSTER_PG_DATABASE_VAR, settings.DASK_SCHEDULER_VAR,
    CODE_SERVER_PORT_VAR, WEBSERVER_PORT_VAR,
)  # fmt: skip
# what `source stack.env` exports for the CLI (never the password: that stays in the caller's environment)
EXPORTED = (
    *(v for v in REQUIRED if v != settings.PG_PASSWORD_VAR),
    settings.STUDIES_PER_RUN_VAR, settings.ANALYSES_VAR, "DAGSTER_HOME", settings.DEPLOYMENT_VAR, "META_BM_WORKSPACE",
)  # fmt: skip


class StackError(RuntimeError):
    """A component could not start (the message names the setting or shows the component's log)."""


def _config() -> dict[str, str]:
    """The settings, checked before anything starts (a message naming the first bad variable)."""
    missing = [v for v in REQUIRED if v not in os.environ or (v != settings.PG_PASSWORD_VAR and not os.environ[v])]
    if missing:
        raise StackError(f"not set: {', '.join(missing)} (see deploy/stack.py)")
    if os.environ[settings.PG_HOST_VAR] not in LOCAL_HOSTS:
        raise StackError(f"{settings.PG_HOST_VAR} must be 127.0.0.1 or localhost: this script starts PostgreSQL here")
    settings.postgres_settings()
    address = settings.dask_scheduler()
    if address.partition("://")[2].rpartition(":")[0] not in LOCAL_HOSTS:
        raise StackError(f"{settings.DASK_SCHEDULER_VAR} must be on 127.0.0.1: this script starts the scheduler here")
    for var in (CODE_SERVER_PORT_VAR, WEBSERVER_PORT_VAR, DASHBOARD_PORT_VAR):
        if var in REQUIRED or os.getenv(var):
            settings.port_number(var, os.environ[var])
    settings.studies_per_run("shared")
    return dict(os.environ)


def throwaway_settings(studies: Path, output: Path, studies_per_run: int) -> dict[str, str]:
    """Settings of a stack for tests and benchmarks on this machine: free ports, a made-up password."""
    from deploy.postgres import free_port

    return {
        settings.STUDIES_VAR: str(studies),
        settings.OUTPUT_VAR: str(output),
        settings.PG_HOST_VAR: "127.0.0.1",
        settings.PG_PORT_VAR: str(free_port()),
        settings.PG_USER_VAR: "meta_bm",
        settings.PG_PASSWORD_VAR: os.urandom(9).hex(),
        settings.PG_DATABASE_VAR: "cohort",
        settings.DAGSTER_PG_DATABASE_VAR: "dagster",
        settings.DASK_SCHEDULER_VAR: f"tcp://127.0.0.1:{free_port()}",
        CODE_SERVER_PORT_VAR: str(free_port()),
        WEBSERVER_PORT_VAR: str(free_port()),
        settings.STUDIES_PER_RUN_VAR: str(studies_per_run),
    }


def _pids_file(state: Path) -> Path:
    return state / "pids.json"


def _record(state: Path, name: str, pid: int, cmd: list[str]) -> None:
    pids = json.loads(_pids_file(state).read_text()) if _pids_file(state).exists() else {}
    pids[name] = {"pid": pid, "cmd": cmd[0]}
    _pids_file(state).write_text(json.dumps(pids, indent=1))


def _spawn(state: Path, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    """Start one component in its own process group, its output in ``<state>/logs/<name>.log``."""
    (state / "logs").mkdir(parents=True, exist_ok=True)
    log = open(state / "logs" / f"{name}.log", "ab")
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
    )
    log.close()
    _record(state, name, proc.pid, cmd)
    return proc


def _log_tail(state: Path, name: str) -> str:
    path = state / "logs" / f"{name}.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def _wait_port(state: Path, name: str, proc: subprocess.Popen, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{name} exited with {proc.returncode}:\n{_log_tail(state, name)}")
        try:
            wait_for_port("127.0.0.1", port, timeout=0.5)
            return
        except TimeoutError:
            continue
    raise StackError(f"{name} does not listen on 127.0.0.1:{port} after {timeout:.0f} s:\n{_log_tail(state, name)}")


def postgres(state: Path) -> PostgresServer:
    pg = settings.postgres_settings()
    return PostgresServer(state / "postgres", port=pg.port, user=pg.user, password=pg.password, host="127.0.0.1")


def start(state: Path, timeout: float = 120.0) -> dict[str, str]:
    """Start every component (see the module docstring); returns the environment the CLI needs."""
    env = _config()
    state = state.resolve()
    if _pids_file(state).exists():
        raise StackError(f"a stack is recorded in {_pids_file(state)}: run `stop` first")
    state.mkdir(parents=True, exist_ok=True)
    home = state / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copyfile(HERE / "dagster.yaml", home / "dagster.yaml")
    code_port, web_port = int(env[CODE_SERVER_PORT_VAR]), int(env[WEBSERVER_PORT_VAR])
    workspace = state / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
        f"      port: {code_port}\n      location_name: meta_bm\n",
        encoding="utf-8",
    )
    env |= {
        "DAGSTER_HOME": str(home),
        settings.DEPLOYMENT_VAR: "shared",
        "META_BM_WORKSPACE": str(workspace),
        # a step may start processes of its own (reconstruction and figure workers)
        "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
    }
    try:
        server = postgres(state)
        server.start()
        _record(state, "postgres", server.pid(), ["postgres"])
        for db in (env[settings.PG_DATABASE_VAR], env[settings.DAGSTER_PG_DATABASE_VAR]):
            server.create_database(db)

        scheduler = env[settings.DASK_SCHEDULER_VAR]
        sched_port = int(scheduler.rpartition(":")[2])
        dash = env.get(DASHBOARD_PORT_VAR)
        dash_args = ["--dashboard-address", f"127.0.0.1:{dash}"] if dash else ["--no-dashboard"]
        proc = _spawn(
            state, "dask-scheduler",
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(sched_port), *dash_args], env,
        )  # fmt: skip
        _wait_port(state, "dask-scheduler", proc, sched_port, timeout)
        for i in range(1, WORKERS + 1):
            _spawn(
                state, f"dask-worker-{i}",
                [str(BIN / "dask"), "worker", scheduler, "--nthreads", "1", "--no-nanny", "--name", f"worker-{i}",
                 "--host", "127.0.0.1", "--local-directory", str(state / "dask" / f"worker-{i}")],
                env,
            )  # fmt: skip
        _wait_workers(scheduler, WORKERS, timeout)

        proc = _spawn(
            state, "code-server",
            [str(BIN / "dagster"), "code-server", "start", "-m", "meta_bm.definitions", "--location-name", "meta_bm",
             "-h", "127.0.0.1", "-p", str(code_port)],
            env,
        )  # fmt: skip
        _wait_port(state, "code-server", proc, code_port, timeout)
        proc = _spawn(state, "daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env)
        proc = _spawn(
            state, "webserver",
            [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port), "-w", str(workspace)], env,
        )  # fmt: skip
        _wait_port(state, "webserver", proc, web_port, timeout)
        _wait_daemon(state, env, timeout)
    except BaseException:
        stop(state)
        raise
    exported = {k: env[k] for k in EXPORTED if env.get(k)}
    (state / "stack.env").write_text("".join(f"export {k}={_quote(v)}\n" for k, v in exported.items()))
    return exported


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _wait_workers(scheduler: str, n: int, timeout: float) -> None:
    from distributed import Client

    with Client(scheduler, timeout=timeout) as client:
        client.wait_for_workers(n, timeout=timeout)


def _wait_daemon(state: Path, env: dict[str, str], timeout: float) -> None:
    """Until the daemon's run queue, sensor and scheduler loops have each written a heartbeat."""
    wanted = {"QUEUED_RUN_COORDINATOR", "SENSOR", "SCHEDULER"}
    code = (
        "import sys, time, dagster as dg\n"
        "inst = dg.DagsterInstance.get()\n"
        f"deadline = time.monotonic() + {timeout}\n"
        "while time.monotonic() < deadline:\n"
        f"    if {wanted!r} <= set(inst.get_daemon_heartbeats()):\n"
        "        sys.exit(0)\n"
        "    time.sleep(0.5)\n"
        "sys.exit(1)\n"
    )
    if subprocess.run([sys.executable, "-c", code], env=env, timeout=timeout + 30).returncode != 0:
        raise StackError(f"dagster-daemon sends no heartbeat after {timeout:.0f} s:\n{_log_tail(state, 'daemon')}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(state: Path, grace: float = 20.0) -> list[str]:
    """Stop the components recorded in ``<state>/pids.json``, newest first; returns their names."""
    state = state.resolve()
    if not _pids_file(state).exists():
        return []
    pids: dict[str, dict] = json.loads(_pids_file(state).read_text())
    stopped = []
    for name, entry in reversed(list(pids.items())):
        pid = int(entry["pid"])
        if name == "postgres":
            try:
                postgres_folder = state / "postgres"
                server = PostgresServer(postgres_folder, port=0, user="", password="")
                server.stop()
            except Exception as exc:  # the stack must come down even if one part misbehaves
                print(f"stack: pg_ctl stop failed ({exc}); sending SIGTERM to {pid}", file=sys.stderr)
                _terminate(pid, grace)
        else:
            _terminate(pid, grace)
        stopped.append(name)
    _pids_file(state).unlink()
    return stopped


def _terminate(pid: int, grace: float) -> None:
    """SIGTERM to the process group ``pid`` leads (it was started with its own session), SIGKILL after ``grace``."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                _reap(pid)
                return
            _reap(pid)
            time.sleep(0.1)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status(state: Path) -> dict[str, bool]:
    """``{component: alive}`` for the recorded PIDs."""
    path = _pids_file(state.resolve())
    if not path.exists():
        return {}
    return {name: _alive(int(e["pid"])) for name, e in json.loads(path.read_text()).items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["start", "stop", "status"])
    ap.add_argument("--state", required=True, type=Path, help="folder of the stack's data, logs and PIDs")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds each component may take to start")
    args = ap.parse_args(argv)
    try:
        if args.command == "start":
            exported = start(args.state, args.timeout)
            print(f"stack started; `source {args.state.resolve() / 'stack.env'}` to use it:")
            for k, v in exported.items():
                print(f"  {k}={v}")
        elif args.command == "stop":
            stopped = stop(args.state)
            print("stopped: " + ", ".join(stopped) if stopped else "no stack recorded")
        else:
            for name, alive in status(args.state).items():
                print(f"{name}: {'running' if alive else 'not running'}")
    except (StackError, settings.SettingsError) as exc:
        print(f"stack: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
