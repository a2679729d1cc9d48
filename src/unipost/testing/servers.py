"""Throwaway PostgreSQL and Redis servers on 127.0.0.1, for tests and benchmarks of unipost at scale.

Each server runs from a fresh temporary directory on a free port, belongs to
the caller and is removed by :meth:`stop`. Nothing of an installed service
(a system cluster, a Redis on 6379) is used or touched. When the software is
missing, ``installer`` (a script path) is run once to install it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import attrs

__all__ = ["PostgresServer", "RedisServer", "free_port"]


def free_port() -> int:
    """A port nobody listens on now (the kernel's choice); servers retry if it is taken."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _install(installer: str | Path | None, what: str) -> None:
    if installer is None:
        raise RuntimeError(f"{what} is not installed and no installer was given")
    subprocess.run(["bash", str(installer)], check=True, timeout=900)  # noqa: S603, S607


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(versions[-1]).parent if versions else None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@attrs.define
class PostgresServer:
    """A PostgreSQL cluster made by initdb and run by pg_ctl; ``url`` connects as a superuser.

    PostgreSQL refuses to run as root: under root the cluster belongs to the
    ``postgres`` system user (Debian's package creates it), else to the caller.
    """

    installer: str | Path | None = None
    settings: dict[str, str] = attrs.field(factory=dict)
    port: int = attrs.field(init=False, default=0)
    directory: Path = attrs.field(init=False)
    _user: pwd.struct_passwd | None = attrs.field(init=False, default=None)
    _bin: Path = attrs.field(init=False)

    @property
    def url(self) -> str:
        return f"postgresql://unipost@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> None:
        user, group = (self._user.pw_uid, self._user.pw_gid) if self._user else (None, None)
        result = subprocess.run(  # noqa: S603 - our own binaries, fixed arguments
            [str(self._bin / args[0]), *args[1:]],
            user=user,
            group=group,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed ({result.returncode}): {result.stderr.strip()[-2000:]}\n"
                f"{_tail(self.directory / 'server.log')}"
            )

    def start(self) -> PostgresServer:
        binary = _postgres_bin()
        if binary is None:
            _install(self.installer, "PostgreSQL")
            binary = _postgres_bin()
            if binary is None:
                raise RuntimeError("the PostgreSQL installer ran but initdb is still missing")
        self._bin = binary
        self.directory = Path(tempfile.mkdtemp(prefix="unipost-pg-"))
        if os.geteuid() == 0:
            self._user = pwd.getpwnam("postgres")
            os.chown(self.directory, self._user.pw_uid, self._user.pw_gid)
        data = self.directory / "data"
        self._run(
            "initdb", "-D", str(data), "-U", "unipost", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        options = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.directory),
            "max_connections": "200",
            **self.settings,
        }
        for _ in range(5):
            self.port = free_port()
            flags = " ".join(f"-c {k}={v}" for k, v in options.items())
            try:
                self._run(
                    "pg_ctl", "-D", str(data), "-l", str(self.directory / "server.log"),
                    "-o", f"-p {self.port} {flags}", "-w", "-t", "60", "start",
                )  # fmt: skip
                return self
            except RuntimeError:
                if "could not bind" not in _tail(self.directory / "server.log", 40):
                    self.stop()
                    raise
        self.stop()
        raise RuntimeError("PostgreSQL found no free port in 5 tries")

    def stop(self) -> None:
        data = self.directory / "data"
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


@attrs.define
class RedisServer:
    """A ``redis-server`` with no persistence, bound to 127.0.0.1 on a free port."""

    installer: str | Path | None = None
    port: int = attrs.field(init=False, default=0)
    directory: Path = attrs.field(init=False)
    process: subprocess.Popen[bytes] | None = attrs.field(init=False, default=None)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, port: int | None = None) -> RedisServer:
        """Start on ``port`` (a restart on the same address), or on a free one."""
        binary = shutil.which("redis-server")
        if binary is None:
            _install(self.installer, "redis-server")
            binary = shutil.which("redis-server")
            if binary is None:
                raise RuntimeError("the Redis installer ran but redis-server is still missing")
        self.directory = Path(tempfile.mkdtemp(prefix="unipost-redis-"))
        for _ in range(5):
            self.port = port or free_port()
            log = self.directory / "redis.log"
            self.process = subprocess.Popen(  # noqa: S603 - a fixed command line
                [
                    binary, "--port", str(self.port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", str(self.directory),
                    "--logfile", str(log),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.process.poll() is None:
                if self.ping():
                    return self
                time.sleep(0.05)
            self._kill()
            if "Address already in use" not in _tail(log, 40):
                break
        self.stop()
        raise RuntimeError(f"redis-server did not start: {_tail(self.directory / 'redis.log')}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.directory, ignore_errors=True)
