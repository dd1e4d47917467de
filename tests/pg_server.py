"""A throwaway PostgreSQL server for the tests: initdb into a temporary directory (in memory when
/dev/shm has room), started on a free port of 127.0.0.1 (its unix socket in that directory too),
fsync off, removed at the end.

    with postgres_server() as url:   # "postgresql://postgres@127.0.0.1:PORT/postgres"
        ...

As root (CI, containers) initdb refuses to run, so the server runs as the `postgres` user the
Debian package creates (`runuser -u postgres --`). Without PostgreSQL binaries (`initdb`,
`pg_ctl` on PATH or under /usr/lib/postgresql/<version>/bin) it raises PostgresUnavailable
with the reason, which the fixtures turn into a skip; `make debs` installs them.
It does not tune the server beyond what makes tests fast, and never touches a system cluster.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PostgresUnavailable", "find_binaries", "postgres_server"]

# Durability off (the data is thrown away): no fsync, no full-page images, commits not awaited.
SERVER_OPTIONS = ["-F", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"]


class PostgresUnavailable(Exception):
    """No PostgreSQL server can be started here; the message says why and how to get one."""


def find_binaries() -> Path:
    """The directory holding initdb and pg_ctl: PATH first, then Debian's newest version."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0)
    if versions:
        return versions[-1].parent
    raise PostgresUnavailable("no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin: "
                              "install the Debian package postgresql (make debs)")


def _memory_directory() -> str | None:
    """/dev/shm when it has room (a cluster is ~40 MB, each test database ~8 MB): CREATE DATABASE
    takes ~10 ms there instead of ~100-200 ms on disk. Docker's default 64 MB is too small."""
    try:
        stats = os.statvfs("/dev/shm")
    except OSError:
        return None
    return "/dev/shm" if stats.f_bavail * stats.f_frsize >= 1 << 30 and os.access("/dev/shm", os.W_OK) else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a private server; yields the superuser's URL (trust authentication, no password)."""
    binaries = find_binaries()
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:  # initdb: "cannot be run as root"
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and there is no postgres user to run the server as") from None
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="pbx-pg-", dir=_memory_directory()))
    data, log = root / "data", root / "server.log"
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)

    def run(*command: str) -> None:
        result = subprocess.run([*as_user, *command], capture_output=True, text=True)
        if result.returncode:
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(f"{Path(command[0]).name} failed ({result.returncode}): "
                                      f"{result.stderr.strip() or result.stdout.strip()}\n{server_log}")

    started = False
    try:
        run(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--locale=C", "--no-sync", "--no-instructions")
        port = _free_port()
        options = ["-p", str(port), "-k", str(root), "-c", "listen_addresses=127.0.0.1", *SERVER_OPTIONS]
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-s", "-t", "30",
            "-o", " ".join(options), "start")
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            # Fast, not immediate: an immediate stop leaves the server's shared memory in /dev/shm.
            subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-s",
                            "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
