"""A throwaway PostgreSQL cluster for the store's tests: initdb -A trust in a temp dir, pg_ctl start on a free
port of 127.0.0.1 with its unix socket in the same dir, stopped and deleted at the end.

The binaries are looked up on PATH, then in Debian's /usr/lib/postgresql/<version>/bin (`.ci/run` installs
the `postgresql` package when initdb is missing). PostgreSQL refuses to run as root: as root the cluster
runs as the unprivileged user `nobody` (runuser), its directory owned by it. Without the binaries the
Postgres tests skip with the reason, except under CI=true, where they fail: CI never skips them silently.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

NOT_FOUND = (
    "PostgreSQL's initdb/pg_ctl were not found (PATH, /usr/lib/postgresql/*/bin): install Debian's "
    "`postgresql` package (`.ci/run` does) to run the store's Postgres tests"
)


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)  # newest version first
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    root: Path
    port: int
    run_as: list[str]
    _names: Iterator[int] = itertools.count(1)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A new empty database for one test; dropped afterwards (its connections ended)."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name}")
        try:
            yield self.url(name)
        finally:
            self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(NOT_FOUND + " (CI=true: the Postgres tests are required)", pytrace=False)
        pytest.skip(NOT_FOUND)
    root = Path(tempfile.mkdtemp(prefix="so8t-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        user = pwd.getpwnam("nobody")
        os.chmod(root, 0o755)
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "nobody", "--"]
    data, log = root / "data", root / "log"
    port = _free_port()
    try:
        subprocess.run(
            [*run_as, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
        )
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(
            [*run_as, pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        tail = (log.read_text(errors="replace")[-2000:] if log.exists() else "") or exc.stderr.decode(errors="replace")
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start a PostgreSQL test cluster: {tail}", pytrace=False)
    try:
        yield Cluster(root, port, run_as)
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
