"""The plugin guides' code runs: included example files match the files, every other
``python`` block executes, and the example plugins work as the guides say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

import unipost
from unipost.api import build_dispatcher
from unipost.config import load_config
from unipost.errors import Transient
from unipost.plugins import PluginHost
from unipost.testing import ChannelContract, deliver

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
GUIDES = ("writing-a-plugin.md", "testing-a-plugin.md")
BLOCK = re.compile(r"(?:<!-- include: (?P<path>\S+) -->\n)?```python\n(?P<code>.*?)```", re.S)


def _blocks(guide: str) -> list[tuple[str | None, str]]:
    text = (DOCS / guide).read_text(encoding="utf-8")
    return [(m.group("path"), m.group("code")) for m in BLOCK.finditer(text)]


@pytest.mark.parametrize("guide", GUIDES)
def test_included_examples_match_their_files(guide: str) -> None:
    included = [(path, code) for path, code in _blocks(guide) if path]
    assert included, f"{guide} includes no example file"
    for path, code in included:
        assert code == (DOCS / path).read_text(encoding="utf-8"), (
            f"the copy of {path} in {guide} is stale: paste the file again"
        )


def test_every_example_file_is_shown_in_a_guide() -> None:
    shown = {path for guide in GUIDES for path, _code in _blocks(guide) if path}
    files = {f"examples/{p.name}" for p in EXAMPLES.glob("*.py")}
    assert files == shown


@pytest.mark.parametrize("guide", GUIDES)
def test_inline_blocks_execute(guide: str) -> None:
    inline = [code for path, code in _blocks(guide) if path is None]
    assert inline, f"{guide} has no inline python block"
    namespace: dict[str, object] = {"__name__": f"docs_{guide.replace('-', '_')}"}
    for code in inline:
        exec(compile(code, guide, "exec"), namespace)  # noqa: S102 - our own documentation


@pytest.fixture
def examples(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    names = ("shout_plugin", "poll_plugin", "vault_plugin", "metrics_plugin", "expiry_plugin")
    modules = {name: __import__(name) for name in names}
    yield modules
    for name in names:
        sys.modules.pop(name, None)


def test_the_example_plugins_work_together(
    examples: dict[str, ModuleType], tmp_path: Path, httpx_mock: object
) -> None:
    """Shout registers, the vault supplies its token, the metrics plugin counts."""
    host = PluginHost(entry_points=[])
    for name in ("shout_plugin", "vault_plugin", "metrics_plugin"):
        host.register_plugin(examples[name], name)
    examples["metrics_plugin"].COUNTS.clear()
    assert host.channel_class("shout-social") is examples["shout_plugin"].ShoutChannel
    (tmp_path / "unipost.toml").write_text(
        '[outbox]\npath = "memory"\n[channels.shout-bakery]\ntype = "shout"\n', encoding="utf-8"
    )
    config = load_config(tmp_path / "unipost.toml", host=host)
    assert config.channels["shout-bakery"].token == "shout-token-from-vault"  # type: ignore[attr-defined]
    httpx_mock.add_response(  # type: ignore[attr-defined]
        method="POST",
        url="https://api.shout.example/statuses",
        match_headers={"Authorization": "Bearer shout-token-from-vault"},
        json={"id": 5, "url": "https://shout.example/5"},
    )
    dispatcher = build_dispatcher(config, host=host, clock=unipost.testing.VirtualClock())
    try:
        report = dispatcher.publish(unipost.Post(text="Open at nine", id="p1"), "shout-bakery")
    finally:
        dispatcher.close()
    assert report.status is unipost.ReportStatus.SUCCEEDED
    assert examples["metrics_plugin"].COUNTS == {("shout-bakery", "delivered"): 1}


def _reel(examples: dict[str, ModuleType]) -> tuple[object, unipost.Post]:
    channel = examples["poll_plugin"].ReelChannel(token="reel-token-0123456")
    video = unipost.Media.from_url("https://cdn.example/v.mp4", mime_type="video/mp4")
    return channel, unipost.Post(text="New oven!", media=[video])


def test_the_polling_example_pauses_until_ready(
    examples: dict[str, ModuleType], httpx_mock: object
) -> None:
    mock = httpx_mock
    base = "https://api.reel.example/containers"
    mock.add_response(method="POST", url=base, json={"id": "c1"})  # type: ignore[attr-defined]
    mock.add_response(method="GET", url=f"{base}/c1", json={"status": "processing"})  # type: ignore[attr-defined]
    mock.add_response(method="GET", url=f"{base}/c1", json={"status": "ready"})  # type: ignore[attr-defined]
    mock.add_response(  # type: ignore[attr-defined]
        method="POST", url=f"{base}/c1/publish", json={"id": "r1", "permalink": "https://reel/r1"}
    )
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    channel, post = _reel(examples)
    receipt = deliver(channel, post, sleep=sleep)  # type: ignore[arg-type]
    assert receipt == unipost.Receipt(platform_id="r1", url="https://reel/r1")
    assert pauses == [5.0]


def test_the_expiry_example_makes_unipost_warn_five_days_ahead(
    examples: dict[str, ModuleType], httpx_mock: object
) -> None:
    """The example's check, run by a dispatcher on a virtual clock: a warning event."""
    clock = unipost.testing.VirtualClock()
    httpx_mock.add_response(  # type: ignore[attr-defined]
        url="https://api.tokeninfo.example/token",
        json={"user": "bakery", "expires_at": clock.now() + 5 * 86400},
    )
    channel = examples["expiry_plugin"].TokenInfoChannel(id="shop", token="tokeninfo-0123456")
    recorder = unipost.testing.EventRecorder()
    dispatcher = unipost.Dispatcher(
        channels={"shop": channel}, store=unipost.MemoryStore(), clock=clock, observers=[recorder]
    )
    try:
        line = dispatcher.check("shop")
    finally:
        dispatcher.close()
    assert line == "authenticated as @bakery; access token expires in 5 days"
    [event] = recorder.of("credential.expiring")
    assert event.fields["days_left"] == 5.0


def test_the_polling_example_marks_its_publish_safe(
    examples: dict[str, ModuleType], httpx_mock: object
) -> None:
    """A timeout on the safe publish POST is Transient (retry), not Ambiguous."""
    mock = httpx_mock
    base = "https://api.reel.example/containers"
    mock.add_response(method="POST", url=base, json={"id": "c1"})  # type: ignore[attr-defined]
    mock.add_response(method="GET", url=f"{base}/c1", json={"status": "ready"})  # type: ignore[attr-defined]
    mock.add_exception(httpx.ReadTimeout("slow"), method="POST", url=f"{base}/c1/publish")  # type: ignore[attr-defined]
    channel, post = _reel(examples)
    with pytest.raises(Transient):
        deliver(channel, post)  # type: ignore[arg-type]


def test_the_testing_guide_example_suite_passes(tmp_path: Path) -> None:
    """Run docs/examples/test_shout_plugin.py as a plugin author would, with the plugin
    "installed" (a .dist-info with its entry point) so the registration test can pass."""
    info = tmp_path / "shout_plugin-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: shout-plugin\nVersion: 0.1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text("[unipost]\nshout = shout_plugin\n", encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(EXAMPLES), str(tmp_path), env.get("PYTHONPATH")])
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--junit-xml",
            str(tmp_path / "r.xml"),
            str(EXAMPLES / "test_shout_plugin.py"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = (tmp_path / "r.xml").read_text(encoding="utf-8")
    assert not re.search(r"<(failure|error|skipped)\b", report)
    ran = set(re.findall(r'<testcase classname="[^"]*" name="([^"\[]+)', report))
    contract = {n for n in dir(ChannelContract) if n.startswith("test_")}
    own = {"test_sends_the_text_and_the_delivery_key", "test_a_503_is_retried_then_delivered"}
    assert ran == contract | own
