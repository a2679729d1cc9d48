"""The ``unipost`` command: every command, its flags, --json, and each exit code from a real case."""

from __future__ import annotations

import base64
import json
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import httpx
import pytest
from pytest_httpx import HTTPXMock

import unipost.plugins
from unipost import Capabilities, Channel, Context, Overflow, Prepared, Receipt
from unipost import cli as unipost_cli
from unipost.channel import Flow, RecipientResult
from unipost.hookspecs import hookimpl
from unipost.plugins import PluginHost
from unipost.redact import mask_phone
from unipost.sqlite_store import SQLiteStore
from unipost.testing import set_testing

ROOT = Path(__file__).resolve().parents[1]
PNG = ROOT / "examples" / "croissants.png"
HOOK_URL = "https://hooks.bakery.example/in/t0k3n-cli"
BARE_URL = "https://api.bare.example/v1/posts"
HOOK_SECRET = "whsec_" + base64.b64encode(b"thirty-two bytes of signing key!").decode()


@attrs.frozen(kw_only=True)
class ShortChannel(Channel):
    """Shortens long text and turns tags into hashtags, like a microblog."""

    name: ClassVar[str] = "short"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=60, overflow=Overflow.TRUNCATE, hashtags=True
    )


@attrs.frozen(kw_only=True)
class ThreadChannel(Channel):
    """Splits long text into a numbered thread."""

    name: ClassVar[str] = "thread"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=50, overflow=Overflow.SPLIT, threads=True
    )


@attrs.frozen(kw_only=True)
class BareChannel(Channel):
    """An HTTP API without idempotency keys or a way to look a post up."""

    name: ClassVar[str] = "bare"
    capabilities: ClassVar[Capabilities] = Capabilities(text_limit=500)

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        response = yield httpx.Request("POST", BARE_URL, json={"text": prepared.text})
        assert response is not None
        return Receipt(platform_id=str(response.json()["id"]))


LIST_URL = "https://api.sms.example/v1/send"
NUMBERS = ("+4915112345678", "+4915187655678")  # the same last two digits: "+***78" twice


@attrs.frozen(kw_only=True)
class ListChannel(Channel):
    """Sends to many numbers in one request; the platform answers per number."""

    name: ClassVar[str] = "sms"
    capabilities: ClassVar[Capabilities] = Capabilities(text_limit=500)

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        response = yield httpx.Request("POST", LIST_URL, json={"to": list(NUMBERS)})
        results = response.json()["results"]
        return Receipt(
            platform_id=str(response.json()["batch"]),
            recipients=tuple(
                RecipientResult(
                    recipient=mask_phone(number), ok=result["ok"], reason=result.get("error")
                )
                for number, result in zip(NUMBERS, results, strict=True)
            ),
        )


def _register(register: Any) -> None:
    register(ShortChannel)
    register(ThreadChannel)
    register(BareChannel)
    register(ListChannel)


# pluggy keeps plugins in a set: a module object is hashable, a SimpleNamespace is not.
PLUGIN = types.ModuleType("test_plugin")
PLUGIN.unipost_register_channels = hookimpl(_register)  # type: ignore[attr-defined]

CONFIG = """
[outbox]
path = "{tmp}/outbox.sqlite3"

[channels.site]
type = "site"
directory = "{tmp}/site"
site_url = "https://bakery.example/"

[channels.hook]
type = "webhook"
url = {{ env = "CLI_HOOK_URL" }}
secret = {{ env = "CLI_HOOK_SECRET" }}

[channels.micro]
type = "short"

[channels.thread]
type = "thread"

[channels.bare]
type = "bare"

[channels.sms]
type = "sms"

[routes]
default = "site"
everywhere = ["site", "hook"]
"""

LONG = (
    "Our winter menu is here: chestnut croissants, spiced pear tarts and hot chocolate "
    "with cardamom, every day from nine until five."
)


@pytest.fixture(autouse=True)
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project with unipost.toml; the process-wide host is a private one; virtual time."""
    made = PluginHost(entry_points=[])
    made.register_plugin(PLUGIN, "cli-test", distribution="tests")
    monkeypatch.setattr(unipost.plugins, "_default", made)
    (tmp_path / "unipost.toml").write_text(CONFIG.format(tmp=tmp_path), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNIPOST_CONFIG", raising=False)
    monkeypatch.setenv("CLI_HOOK_URL", HOOK_URL)
    monkeypatch.setenv("CLI_HOOK_SECRET", HOOK_SECRET)
    with set_testing():
        yield tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = unipost_cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def outbox(project: Path) -> list[Any]:
    store = SQLiteStore(project / "outbox.sqlite3")
    try:
        return store.query()
    finally:
        store.close()


# -- publish ---------------------------------------------------------------------------


def test_publish_with_every_post_flag(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "publish",
        "Open today 9-5!",
        "--title",
        "Winter hours",
        "--link",
        "https://bakery.example/hours",
        "--image",
        str(PNG),
        "--alt",
        "A tray of croissants",
        "--tag",
        "bread",
        "--language",
        "en-GB",
        "--id",
        "hours-1",
        "--to",
        "site",
    )
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "post hours-1 (revision 1): succeeded"
    assert "✓ site" in out
    assert "https://bakery.example/posts/winter-hours/" in out
    feed = json.loads((project / "site" / "feed.json").read_text(encoding="utf-8"))
    [item] = feed["items"]
    assert item["title"] == "Winter hours"
    assert "Open today 9-5!" in item["content_text"]
    assert item["tags"] == ["bread"]
    assert item["language"] == "en-GB"
    assert item["attachments"][0]["title"] == "A tray of croissants"
    assert (project / "site" / "posts" / "winter-hours" / "1-croissants.png").is_file()
    [record] = outbox(project)
    assert (record.post_id, record.channel, record.state.value) == ("hours-1", "site", "delivered")


def test_publish_to_a_list_and_to_a_route_name(
    project: Path, capsys: pytest.CaptureFixture[str], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=HOOK_URL, method="POST", json={"id": "evt_1"}, is_reusable=True)
    code, out, _ = run(capsys, "publish", "One", "--to", "site,hook", "--id", "a")
    assert code == 0
    assert "✓ site" in out
    assert "✓ hook" in out
    code, out, _ = run(capsys, "publish", "Two", "--to", "everywhere", "--id", "b", "--json")
    assert code == 0
    data = json.loads(out)
    assert [o["channel"] for o in data["outcomes"]] == ["site", "hook"]
    assert {o["state"] for o in data["outcomes"]} == {"delivered"}
    code, out, _ = run(capsys, "--json", "publish", "Three", "--id", "c")
    assert code == 0
    assert [o["channel"] for o in json.loads(out)["outcomes"]] == ["site"], "route 'default'"
    assert len(httpx_mock.get_requests()) == 2


def test_publishing_the_same_id_again_does_not_post_twice(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(2):
        code, _out, _err = run(capsys, "publish", "Once only", "--id", "once")
        assert code == 0
    assert len(json.loads((project / "site" / "feed.json").read_text())["items"]) == 1
    assert len(outbox(project)) == 1


# -- exit codes, each from a real case -----------------------------------------------------


def test_exit_0_1_3_succeeded_failed_partial(
    capsys: pytest.CaptureFixture[str], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        url=HOOK_URL, method="POST", status_code=400, text="bad payload", is_reusable=True
    )
    assert run(capsys, "publish", "ok", "--to", "site")[0] == 0
    code, out, _ = run(capsys, "publish", "refused", "--to", "hook", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["status"] == "failed"
    assert data["outcomes"][0]["error_class"] == "permanent"
    assert data["outcomes"][0]["attempts"][0]["http_status"] == 400
    code, out, _ = run(capsys, "publish", "half", "--to", "site,hook")
    assert code == 3
    assert "partial" in out.splitlines()[0]


def test_exit_4_pending_when_the_platform_says_later(
    capsys: pytest.CaptureFixture[str], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        url=HOOK_URL, method="POST", status_code=503, headers={"Retry-After": "3600"}
    )
    code, out, _ = run(capsys, "publish", "later", "--to", "hook", "--json")
    assert code == 4
    [outcome] = json.loads(out)["outcomes"]
    assert outcome["state"] == "retry_wait"
    assert outcome["next_attempt_at"] is not None


def test_exit_5_ambiguous_when_a_create_may_have_been_applied(
    capsys: pytest.CaptureFixture[str], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("read timed out"), url=BARE_URL)
    code, out, _ = run(capsys, "publish", "maybe", "--to", "bare")
    assert code == 5, out
    assert "ambiguous" in out.splitlines()[0]
    assert "? bare" in out
    assert len(httpx_mock.get_requests()) == 1, "never blindly sent again"


def test_exit_2_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "publish", "hi", "--to", "nowhere")
    assert (code, out) == (2, "")
    assert err.startswith("unipost: to: no channel or route named 'nowhere'")
    assert "a route (default, everywhere)" in err, "route names are suggested too"


# -- preview -------------------------------------------------------------------------------


def test_preview_shows_each_rendering_and_every_adaptation(
    capsys: pytest.CaptureFixture[str], httpx_mock: HTTPXMock, project: Path
) -> None:
    args = ("preview", LONG, "--link", "https://bakery.example/winter", "--tag", "winter")
    code, out, err = run(capsys, *args, "--to", "site,micro,thread")
    assert (code, err) == (0, "")
    sections = out.split("── ")[1:]
    assert [s.split("\n", 1)[0] for s in sections] == [
        "site (site)",
        "micro (short)",
        "thread (thread)",
    ]
    site, micro, thread = sections
    assert LONG in site
    assert "· link_appended: link added to the text: https://bakery.example/winter" in site
    assert "· truncated:" in micro
    assert "link kept" in micro
    assert "· hashtags_added: #winter" in micro
    assert "https://bakery.example/winter" in micro
    assert "· split:" in thread
    assert "[1/" in thread
    code, out, _ = run(capsys, *args, "--to", "site,micro,thread", "--json")
    data = json.loads(out)
    kinds = {name: [c["kind"] for c in p["changes"]] for name, p in data["prepared"].items()}
    assert kinds["site"] == ["link_appended"]
    assert set(kinds["micro"]) == {"hashtags_added", "link_appended", "truncated"}
    assert "split" in kinds["thread"]
    assert len(data["prepared"]["thread"]["parts"]) > 1
    assert all(len(part) <= 50 for part in data["prepared"]["thread"]["parts"])
    assert len(data["prepared"]["micro"]["parts"][0]) <= 60
    assert httpx_mock.get_requests() == [], "preview never touches the network"
    assert not (project / "site").exists(), "nor the site"
    assert not (project / "outbox.sqlite3").exists() or outbox(project) == []


# -- plugins, channels, check ---------------------------------------------------------------------


def test_plugins_lists_built_ins_and_installed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert {"site", "email", "webhook", "cli-test"} <= set(rows)
    assert "built-in" in rows["site"]
    assert "short, thread, bare, sms" in rows["cli-test"]
    code, out, _ = run(capsys, "plugins", "--json")
    infos = {i["name"]: i for i in json.loads(out)}
    assert infos["cli-test"]["channels"] == ["short", "thread", "bare", "sms"]
    assert infos["webhook"]["builtin"] is True


def test_channels_lists_the_configuration(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    code, out, _ = run(capsys, "channels")
    assert code == 0
    assert out.splitlines()[0] == f"from {project / 'unipost.toml'}"
    assert "hook" in out
    assert "webhook:hooks.bakery.example" in out
    assert HOOK_URL not in out
    assert "t0k3n" not in out
    code, out, _ = run(capsys, "channels", "--json")
    data = json.loads(out)
    assert [c["id"] for c in data["channels"]] == ["site", "hook", "micro", "thread", "bare", "sms"]
    assert data["routes"] == ["default", "everywhere"]


def test_check_passes_for_the_site_and_fails_for_a_webhook_that_is_down(
    capsys: pytest.CaptureFixture[str], httpx_mock: HTTPXMock, project: Path
) -> None:
    code, out, _ = run(capsys, "check", "site")
    assert code == 0
    assert out.startswith("site")
    assert "ok:" in out
    assert "writable" in out
    httpx_mock.add_exception(httpx.ConnectError("connection refused"), url=HOOK_URL, method="GET")
    code, out, _ = run(capsys, "check", "site", "hook", "--json")
    assert code == 1
    results = json.loads(out)
    assert results["site"]["ok"]
    assert results["site"]["result"].startswith("ok:")
    assert not results["hook"]["ok"]
    assert results["hook"]["result"].startswith("failed: not_sent")
    assert HOOK_URL not in out


def test_check_passes_for_a_webhook_that_answers(
    capsys: pytest.CaptureFixture[str], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=HOOK_URL, method="GET", status_code=405)
    code, out, _ = run(capsys, "check", "hook")
    assert code == 0
    assert "ok: https://hooks.bakery.example/ answers (HTTP 405" in out


# -- the outbox commands ------------------------------------------------------------------


def test_outbox_list_and_show(capsys: pytest.CaptureFixture[str], httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=HOOK_URL, method="POST", status_code=503)
    httpx_mock.add_response(url=HOOK_URL, method="POST", json={"id": "evt_9"})
    assert run(capsys, "publish", "Retried", "--to", "hook", "--id", "r1")[0] == 0
    code, out, _ = run(capsys, "outbox", "list", "--json")
    assert code == 0
    [row] = json.loads(out)
    assert (row["post_id"], row["state"], row["attempts"]) == ("r1", "delivered", 2)
    code, out, _ = run(capsys, "outbox", "show", "r1")
    assert code == 0
    assert "#1" in out
    assert "transient" in out
    assert "#2" in out
    code, out, _ = run(capsys, "outbox", "show", "r1", "--json")
    assert [a["error_class"] for a in json.loads(out)["outcomes"][0]["attempts"]] == [
        "transient",
        None,
    ]


# -- partial delivery, recipients, and the rest of the daily edges ---------------------------------


def test_a_recipient_failing_for_good_is_partial_with_exit_3(
    capsys: pytest.CaptureFixture[str], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        url=LIST_URL,
        method="POST",
        json={"batch": "b-1", "results": [{"ok": True}, {"ok": False, "error": "number blocked"}]},
    )
    code, out, _ = run(capsys, "publish", "Open 9-5", "--to", "sms", "--id", "sms-1")
    assert code == 3
    lines = out.splitlines()
    assert lines[0] == "post sms-1 (revision 1): partial"
    assert "◐ sms" in lines[1]
    assert "delivered to 1 of 2" in lines[1]
    assert "#2 +49*******5678: number blocked" in lines[1]
    assert "✓ #1 +49*******5678" in out
    assert "✗ #2 +49*******5678 number blocked" in out
    assert "4915112345678" not in out
    code, out, _ = run(capsys, "outbox", "show", "sms-1", "--json")
    data = json.loads(out)
    assert data["status"] == "partial"
    assert data["outcomes"][0]["partial"] is True
    assert data["outcomes"][0]["state"] == "delivered"


def test_to_given_twice_keeps_both(
    capsys: pytest.CaptureFixture[str], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=HOOK_URL, method="POST", json={"id": "evt_2"})
    code, out, _ = run(capsys, "publish", "Both", "--to", "site", "--to", "hook", "--json")
    assert code == 0
    assert [o["channel"] for o in json.loads(out)["outcomes"]] == ["site", "hook"]


def test_every_option_has_help_text() -> None:
    parser = unipost_cli._parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    outbox = commands["outbox"]._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, command in [("unipost", parser), *commands.items(), *outbox.items()]:
        for action in command._actions:
            if action.dest in ("help", "command", "action"):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_preview_shows_roles_title_subject_images_and_lacking_secrets(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    news = """
[channels.news]
type = "email"
host = "127.0.0.1"
from_addr = "news@bakery.example"
to = ["one@customers.example"]

[routes]"""
    config = CONFIG.format(tmp=project).replace("[routes]", news)
    (project / "unipost.toml").write_text(config, encoding="utf-8")
    monkeypatch.delenv("CLI_HOOK_URL")
    args = [
        "preview",
        "Open 9-5",
        "--title",
        "Winter hours",
        "--image",
        str(PNG),
        "--alt",
        "Croissants",
    ]
    code, out, err = run(capsys, *args, "--to", "site,news,micro")
    assert (code, err) == (0, "")
    site, news, micro = out.split("── ")[1:]
    assert "title (headline): Winter hours" in site
    assert "image 1: croissants.png (image/png" in site
    assert "alt: 'Croissants'" in site
    assert "subject: Winter hours" in news
    assert "alt: 'Croissants'" in news
    assert micro.startswith("micro: cannot publish: micro.media"), "no images on that one"
    code, out, _ = run(capsys, "preview", "Open 9-5", "--title", "Winter hours", "--to", "micro")
    assert "· title: the title leads the text" in out
    assert "   Winter hours\n   \n   Open 9-5" in out
    data = json.loads(run(capsys, *args, "--to", "site,news", "--json")[1])
    assert data["prepared"]["news"]["subject"] == "Winter hours"
    assert data["prepared"]["site"]["media"][0]["alt"] == "Croissants"
    assert data["prepared"]["site"]["title"] == "Winter hours"


def test_preview_of_a_first_of_says_which_is_primary(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = (project / "unipost.toml").read_text(encoding="utf-8")
    config += 'rescue = { first_of = ["hook", "micro", "site"] }\n'
    (project / "unipost.toml").write_text(config, encoding="utf-8")
    monkeypatch.delenv("CLI_HOOK_URL")
    code, out, _ = run(capsys, "preview", "Open 9-5", "--to", "rescue")
    assert code == 0
    headers = [line for line in out.splitlines() if line.startswith("── ")]
    assert headers == [
        "── hook (webhook) · primary",
        "── micro (short) · fallback 1: only if hook does not deliver",
        "── site (site) · fallback 2: only if hook, micro does not deliver",
    ]
    assert (
        "! cannot send yet: channels.hook.url: environment variable CLI_HOOK_URL is not set" in out
    )
    data = json.loads(run(capsys, "preview", "Open 9-5", "--to", "rescue", "--json")[1])
    assert data["route"] == "first_of(hook, micro, site)"
    assert data["prepared"]["hook"]["role"] == "primary"
    assert data["prepared"]["site"]["role"].startswith("fallback 2")
    assert "CLI_HOOK_URL" in data["lacking"]["hook"]


def test_verbose_logs_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "publish", "Logged", "--to", "site", "-v")
    assert code == 0
    assert "INFO unipost: delivered" in err
    code, _out, err = run(capsys, "--log-level", "warning", "publish", "Quiet", "--to", "site")
    assert code == 0
    assert "INFO" not in err


def test_the_worker_says_which_channel_waits_for_its_secret(
    capsys: pytest.CaptureFixture[str], httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpx_mock.add_response(
        url=HOOK_URL, method="POST", status_code=503, headers={"Retry-After": "3600"}
    )
    code, _out, _err = run(capsys, "publish", "Later", "--to", "hook", "--id", "wait-1")
    assert code == 4
    monkeypatch.delenv("CLI_HOOK_URL")
    code, out, _err = run(capsys, "worker", "--once")
    assert code == 0
    first, *rest = out.splitlines()
    assert first.startswith("note: hook cannot send until its secret is set; its records wait")
    assert "CLI_HOOK_URL" in first
    assert rest[-1].startswith("worker --once:")
    code, out, _err = run(capsys, "channels")
    assert "hook             webhook      domain ?  — cannot send: channels.hook.url" in out
