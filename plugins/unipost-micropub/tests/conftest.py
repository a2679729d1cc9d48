"""A real Micropub endpoint: django-indieweb (PyPI) in a throwaway Django project, per session.

As in ``shared/servers/micropub-django-indieweb.sh``: SQLite, Django's
``runserver`` on a free 127.0.0.1 port, the app's own in-memory Micropub
handler (subclassed to keep entries across requests), and a bearer token made
in the database. django-indieweb lives in a cached virtualenv that
``scripts/ci/install-micropub.sh`` creates when it is missing.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[3]
INSTALLER = REPO / "scripts" / "ci" / "install-micropub.sh"
_XDG = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
CACHE = Path(os.environ.get("UNIPOST_MICROPUB_DIR") or _XDG / "unipost" / "micropub")
STARTUP_LIMIT = 60.0

SETTINGS = """
SECRET_KEY = "{secret}"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "urls"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
                  "django.contrib.sites", "django.contrib.messages", "indieweb"]
SITE_ID = 1
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware",
              "django.contrib.auth.middleware.AuthenticationMiddleware"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": "{work}/db.sqlite3"}}}}
TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {{}}}}]
MEDIA_ROOT = "{work}/media"
MEDIA_URL = "/media/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INDIEWEB_MICROPUB_HANDLER = "store.SharedMemoryHandler"
"""

# The bundled InMemoryMicropubHandler is made per request (it forgets every entry);
# this subclass keeps its state at class level and accepts absolute URLs.
STORE = """
from urllib.parse import urlparse
from indieweb.handlers import InMemoryMicropubHandler

class SharedMemoryHandler(InMemoryMicropubHandler):
    entries, deleted_entries, _count = {}, {}, 0

    def __init__(self):
        pass

    def create_entry(self, properties, user):
        self.counter = type(self)._count
        entry = super().create_entry(properties, user)
        type(self)._count = self.counter
        return entry

    def _key(self, url):
        return url if url in self.entries or url in self.deleted_entries else urlparse(url).path

    def get_entry(self, url, user):
        return super().get_entry(self._key(url), user)
"""

URLS = """
from django.urls import include, path
urlpatterns = [path("indieweb/", include("indieweb.urls"))]
"""

SETUP = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from indieweb.models import Token
u = get_user_model().objects.create_user("alice", password="alice-pass-123")
for scope in ("create update media", "media"):
    t = Token.objects.create(owner=u, client_id="https://unipost.example/", me="http://127.0.0.1/",
                             scope=scope)
    print(t.key)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MicropubServer:
    """The running endpoint, a token with ``create update media`` and one with only ``media``."""

    def __init__(
        self, base: str, token: str, media_only_token: str, startup: float, media_root: Path
    ) -> None:
        self.base = base
        self.media_root = media_root
        self.endpoint = f"{base}/indieweb/micropub/"
        self.token = token
        self.media_only_token = media_only_token
        self.startup = startup

    def source(self, url: str) -> Any:
        """``q=source``: the entry as the endpoint stored it (W3C Micropub §3.7.4)."""
        response = httpx.get(
            self.endpoint,
            params={"q": "source", "url": url},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def micropub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MicropubServer]:
    """django-indieweb on a free port, installed on first use, stopped at the end."""
    python = CACHE / "venv" / "bin" / "python"
    if not (CACHE / "installed").is_file() or not python.exists():
        subprocess.run(["bash", str(INSTALLER), str(CACHE)], check=True, timeout=900)
    work = tmp_path_factory.mktemp("micropub")
    site = work / "site"
    site.mkdir()
    (site / "settings.py").write_text(SETTINGS.format(secret=secrets.token_hex(24), work=work))
    (site / "store.py").write_text(STORE)
    (site / "urls.py").write_text(URLS)
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "settings", "PYTHONPATH": str(site)}
    admin = [str(python), "-m", "django"]
    started = time.monotonic()
    made = subprocess.run(  # migrate and make the tokens in one interpreter
        [str(python), "-c", SETUP],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    token, media_only = made.stdout.strip().splitlines()[-2:]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = work / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*admin, "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        while True:
            try:
                probe = httpx.get(
                    f"{base}/indieweb/micropub/?q=config",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=5,
                )
                if probe.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"django-indieweb did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield MicropubServer(base, token, media_only, time.monotonic() - started, work / "media")
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
