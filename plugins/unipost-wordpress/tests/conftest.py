"""A real WordPress (Debian package) on MariaDB and PHP's built-in server, once per session.

MariaDB listens on a Unix socket only; PHP serves a private copy of
``/usr/share/wordpress`` on a free 127.0.0.1 port. The site is installed and an
application password created from PHP (``wp_install``), as the recipe in
``shared/servers/wordpress.sh`` does. Missing software is installed by
``scripts/ci/install-wordpress.sh``; every wait is bounded; both servers are
stopped by PID at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[3]
INSTALLER = REPO / "scripts" / "ci" / "install-wordpress.sh"
WORDPRESS = Path("/usr/share/wordpress")
STARTUP_LIMIT = 60.0  # seconds for MariaDB + wp_install + php -S together

SETUP_PHP = r"""<?php
$_SERVER['HTTP_HOST'] = '127.0.0.1'; $_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);
require getenv('WPDIR') . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
add_filter('pre_wp_mail', '__return_false');
$r = wp_install('unipost test', 'admin', 'admin@example.test', false, '', 'admin-pass-123');
update_option('permalink_structure', '/%postname%/');
$u = wp_insert_user(['user_login' => 'reader', 'user_pass' => 'reader-pass-123',
                     'user_email' => 'reader@example.test', 'role' => 'subscriber']);
[$pw] = WP_Application_Passwords::create_new_application_password($r['user_id'], ['name' => 'unipost']);
[$rpw] = WP_Application_Passwords::create_new_application_password($u, ['name' => 'unipost']);
echo $pw, "\n", $rpw, "\n";
"""

ROUTER_PHP = r"""<?php
$p = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if ($p !== '/' && file_exists($_SERVER['DOCUMENT_ROOT'] . $p) && !is_dir($_SERVER['DOCUMENT_ROOT'] . $p)) return false;
$_SERVER['SCRIPT_NAME'] = '/index.php';
require $_SERVER['DOCUMENT_ROOT'] . '/index.php';
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class WordPressServer:
    """A running site: its URL, the admin's and a subscriber's application passwords."""

    def __init__(self, base: str, password: str, reader_password: str, startup: float) -> None:
        self.base = base
        self.password = password
        self.reader_password = reader_password
        self.startup = startup

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {
            "site": self.base,
            "username": "admin",
            "application_password": self.password,
        } | extra

    def get(self, route: str, **params: str) -> Any:
        response = httpx.get(
            f"{self.base}/wp-json{route}",
            params=params,
            auth=("admin", self.password),
            timeout=30,
        )
        response.raise_for_status()
        return response.json()


def _ready() -> bool:
    return (
        (WORDPRESS / "wp-settings.php").is_file()
        and shutil.which("mariadbd") is not None
        and shutil.which("php") is not None
    )


def _wait(
    what: str, deadline: float, probe: Any, process: subprocess.Popen[bytes], log: Path
) -> None:
    while not probe():
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes], *, throwaway: bool = False) -> None:
    """Stop by PID; a throwaway database is killed outright (no point flushing InnoDB)."""
    if process.poll() is None and throwaway:
        process.kill()
        process.wait()
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def wordpress() -> Iterator[WordPressServer]:
    """WordPress + MariaDB, installed on first use, on a free port, stopped at the end."""
    if not _ready():
        subprocess.run(["bash", str(INSTALLER)], check=True, timeout=900)
    # mariadbd runs as the mysql user: pytest's 0700 temp dirs are closed to it.
    work = Path(tempfile.mkdtemp(prefix="upwp-", dir="/tmp"))
    work.chmod(0o711)
    processes: list[subprocess.Popen[bytes]] = []
    started = time.monotonic()
    deadline = started + STARTUP_LIMIT
    try:
        data, run = work / "mysql", work / "run"
        data.mkdir()
        run.mkdir()
        shutil.chown(data, "mysql", "mysql")
        shutil.chown(run, "mysql", "mysql")
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--user=mysql",
                "--skip-test-db",
                "--auth-root-authentication-method=socket",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        sock = run / "mysqld.sock"
        db_log = run / "mysqld.err"
        mariadb = subprocess.Popen(
            [
                "mariadbd",
                "--no-defaults",
                f"--datadir={data}",
                "--user=mysql",
                "--skip-networking",
                f"--socket={sock}",
                f"--pid-file={run / 'mysqld.pid'}",
                f"--log-error={db_log}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(mariadb)

        def db_up() -> bool:
            if not sock.exists():
                return False
            probe = subprocess.run(
                ["mariadb", f"--socket={sock}", "-uroot", "-e", "select 1"],
                capture_output=True,
                check=False,
            )
            return probe.returncode == 0

        db_log.touch()
        _wait("MariaDB", deadline, db_up, mariadb, db_log)
        subprocess.run(
            [
                "mariadb",
                f"--socket={sock}",
                "-uroot",
                "-e",
                "CREATE DATABASE wordpress; CREATE USER 'wp'@'localhost' IDENTIFIED BY 'wp-pass';"
                " GRANT ALL ON wordpress.* TO 'wp'@'localhost';",
            ],
            check=True,
            capture_output=True,
        )

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        site = work / "wp"
        shutil.copytree(WORDPRESS, site, symlinks=True)
        for leftover in ("wp-config.php", ".htaccess"):
            (site / leftover).unlink(missing_ok=True)
        (site / "wp-content" / "uploads").mkdir(parents=True, exist_ok=True)
        keys = "\n".join(
            f"define('{name}', '{secrets.token_hex(24)}');"
            for name in (
                "AUTH_KEY",
                "SECURE_AUTH_KEY",
                "LOGGED_IN_KEY",
                "NONCE_KEY",
                "AUTH_SALT",
                "SECURE_AUTH_SALT",
                "LOGGED_IN_SALT",
                "NONCE_SALT",
            )
        )
        (site / "wp-config.php").write_text(
            f"""<?php
define('DB_NAME', 'wordpress');
define('DB_USER', 'wp');
define('DB_PASSWORD', 'wp-pass');
define('DB_HOST', 'localhost:{sock}');
define('DB_CHARSET', 'utf8mb4');
define('WP_HOME', '{base}');
define('WP_SITEURL', '{base}');
define('WP_ENVIRONMENT_TYPE', 'local');
define('WP_AUTO_UPDATE_CORE', false);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('DISABLE_WP_CRON', true);
define('FS_METHOD', 'direct');
$table_prefix = 'wp_';
{keys}
if (!defined('ABSPATH')) define('ABSPATH', __DIR__ . '/');
require_once ABSPATH . 'wp-settings.php';
"""
        )
        (work / "setup.php").write_text(SETUP_PHP)
        (work / "router.php").write_text(ROUTER_PHP)
        setup = subprocess.run(
            ["php", str(work / "setup.php")],
            env=os.environ | {"WPDIR": str(site)},
            capture_output=True,
            check=False,
            timeout=max(1.0, deadline - time.monotonic()),
        )
        lines = setup.stdout.decode().strip().splitlines()
        if setup.returncode != 0 or len(lines) < 2:
            pytest.fail(f"wp_install failed: {setup.stdout[-2000:]!r} {setup.stderr[-2000:]!r}")
        password, reader_password = lines[-2], lines[-1]

        php_log = work / "php.log"
        with php_log.open("wb") as out:
            php = subprocess.Popen(
                ["php", "-S", f"127.0.0.1:{port}", "-t", str(site), str(work / "router.php")],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append(php)

        def web_up() -> bool:
            try:
                return httpx.get(f"{base}/wp-json/", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        _wait("php -S", deadline, web_up, php, php_log)
        yield WordPressServer(base, password, reader_password, time.monotonic() - started)
    finally:
        for index, process in reversed(list(enumerate(processes))):
            _stop(process, throwaway=index == 0)  # processes[0] is mariadbd
        shutil.rmtree(work, ignore_errors=True)
