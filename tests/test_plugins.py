"""The plugin host: discovery, listing, broken plugins, allow/block lists, lazy loading,
and one ``test_hook_<name>`` per hook in ``unipost.hookspecs``."""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

import unipost
from unipost import hookspecs
from unipost.api import build_dispatcher
from unipost.config import Config, load_config
from unipost.errors import PluginError, UnknownChannel
from unipost.events import Event
from unipost.plugins import PluginHost, PluginInfo
from unipost.testing import FakeServer, VirtualClock, fake_channel

pytest_plugins = ["unipost.testing.pytest_plugin"]

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "plugins_fixture"
DISTS = {"up-good": ("1.0.0", "good"), "up-broken": ("2.0.0", "broken"), "up-dup": ("0.5.0", "dup")}
FIRST_PARTY = {
    "facebook": "unipost-meta",
    "instagram": "unipost-meta",
    "whatsapp": "unipost-meta",
    "threads": "unipost-meta",
    "mastodon": "unipost-mastodon",
    "bluesky": "unipost-bluesky",
}


@pytest.fixture(autouse=True)
def _no_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNIPOST_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("UNIPOST_DISABLE_PLUGINS", raising=False)


def _install_fake_dists(target: Path) -> None:
    """Three "installed" distributions: a module and a ``.dist-info`` each."""
    for dist, (version, entry) in DISTS.items():
        module = dist.replace("-", "_")
        shutil.copy(FIXTURE / f"{module}.py", target / f"{module}.py")
        info = target / f"{module}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(f"[unipost]\n{entry} = {module}\n", encoding="utf-8")


@pytest.fixture
def fake_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site-packages"
    site.mkdir()
    _install_fake_dists(site)
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in ("up_good", "up_broken", "up_dup"):
        sys.modules.pop(name, None)


def _points(*dists: str) -> list[metadata.EntryPoint]:
    return [point for dist in dists for point in metadata.distribution(dist).entry_points]


@pytest.fixture
def host(fake_dists: Path) -> PluginHost:
    """Only the fake distributions, in this order: good, broken, dup."""
    return PluginHost(entry_points=_points("up-good", "up-broken", "up-dup"))


def _by_name(infos: list[PluginInfo]) -> dict[str, PluginInfo]:
    return {info.name: info for info in infos}


# -- listing -------------------------------------------------------------------


def test_lists_builtins_and_installed_plugins_with_versions() -> None:
    infos = _by_name(PluginHost().plugins())
    core = metadata.version("unipost-sdk")
    for name in ("site", "email", "webhook"):
        assert infos[name] == PluginInfo(
            name=name, distribution="unipost", version=core, channels=(name,), builtin=True
        )
    for name, dist in FIRST_PARTY.items():
        info = infos[name]
        assert (info.distribution, info.version, info.error) == (dist, metadata.version(dist), None)
        assert name in info.channels
        assert not info.builtin
    assert [i.builtin for i in PluginHost().plugins()][:3] == [True, True, True]


def test_cli_lists_plugins_with_versions(tmp_path: Path) -> None:
    out = _cli(tmp_path, "plugins")
    core = metadata.version("unipost-sdk")
    assert re.search(rf"^site\s+built-in\s+{re.escape(core)}\s+site$", out, re.MULTILINE)
    for name, dist in FIRST_PARTY.items():
        assert re.search(rf"^{name}\s+{dist}\s+{re.escape(metadata.version(dist))}\b", out, re.M)


# -- broken plugins --------------------------------------------------------------


def test_a_plugin_that_fails_to_import_is_reported(host: PluginHost) -> None:
    broken = _by_name(host.plugins())["broken"]
    assert (broken.distribution, broken.version, broken.channels) == ("up-broken", "2.0.0", ())
    assert broken.error is not None
    assert "import failed" in broken.error
    assert "boom: up_broken cannot be imported" in broken.error
    with pytest.raises(PluginError, match=r"up-broken 2\.0\.0") as caught:
        host.channel_class("broken")
    assert caught.value.distribution == "up-broken"


def test_a_plugin_reusing_a_channel_name_is_disabled_whole(host: PluginHost) -> None:
    import up_good

    infos = _by_name(host.plugins())
    dup = infos["dup"]
    assert (dup.distribution, dup.version) == ("up-dup", "0.5.0")
    assert dup.error == "channel 'goodchan' is already registered by up-good"
    assert infos["good"].error is None
    types = host.channel_types()
    assert types["goodchan"] is up_good.GoodChannel
    assert "dupextra" not in types, "the conflicting plugin's other channels go too"
    with pytest.raises(UnknownChannel):
        host.channel_class("dupextra")


def test_the_first_registration_wins_whichever_order(fake_dists: Path) -> None:
    import up_dup

    host = PluginHost(entry_points=_points("up-dup", "up-good"))
    infos = _by_name(host.plugins())
    assert infos["good"].error == "channel 'goodchan' is already registered by up-dup"
    assert host.channel_class("goodchan") is up_dup.ImpostorChannel
    assert host.channel_class("dupextra") is up_dup.ExtraChannel


def test_broken_plugins_do_not_stop_publishing_to_the_others(
    host: PluginHost, tmp_path: Path
) -> None:
    import up_good

    up_good.PUBLISHED.clear()
    (tmp_path / "unipost.toml").write_text(
        f"""
        [outbox]
        path = "memory"
        [channels.good]
        type = "goodchan"
        [channels.site]
        type = "site"
        directory = "{tmp_path / "public"}"
        """,
        encoding="utf-8",
    )
    config = load_config(tmp_path / "unipost.toml", host=host)
    dispatcher = build_dispatcher(config, host=host, clock=VirtualClock())
    try:
        report = dispatcher.publish(unipost.Post(text="Open at nine", id="p1"), ["good", "site"])
    finally:
        dispatcher.close()
    assert report.status is unipost.ReportStatus.SUCCEEDED
    assert up_good.PUBLISHED == ["Open at nine"]
    assert (tmp_path / "public").is_dir()


def test_a_hook_that_does_not_exist_disables_only_that_plugin(
    unipost_host: PluginHost, caplog: pytest.LogCaptureFixture
) -> None:
    class Typo:
        @unipost.hookimpl
        def unipost_register_channel(self, register: Any) -> None:
            """Misspelt: the hook is unipost_register_channels."""

    unipost_host.register_plugin(Typo(), "typo", distribution="typo-dist")
    info = _by_name(unipost_host.plugins())["typo"]
    assert info.error is not None
    assert "unknown hook" in info.error
    assert "unipost_register_channel" in info.error
    assert "plugin typo (typo-dist local) disabled" in caplog.text
    assert unipost_host.channel_class("site").name == "site"


def test_wrong_hook_arguments_are_reported(unipost_host: PluginHost) -> None:
    class WrongArgs:
        @unipost.hookimpl
        def unipost_register_channels(self, registry: Any) -> None:
            """``registry`` is not an argument of the hook."""

    unipost_host.register_plugin(WrongArgs(), "wrongargs")
    info = _by_name(unipost_host.plugins())["wrongargs"]
    assert info.error is not None
    assert info.error.startswith("cannot register")
    assert "registry" in info.error


def test_a_raising_register_hook_leaves_nothing_behind(unipost_host: PluginHost) -> None:
    class Half:
        @unipost.hookimpl
        def unipost_register_channels(self, register: Any) -> None:
            register(fake_channel("x").__class__, aliases=("half-alias",))
            raise KeyError("settings table missing")

        @unipost.hookimpl
        def unipost_publish_event(self, event: Event) -> None:
            """Must not be called: the plugin is disabled."""

    unipost_host.register_plugin(Half(), "half")
    info = _by_name(unipost_host.plugins())["half"]
    assert info.error == "unipost_register_channels failed: KeyError('settings table missing')"
    assert "half-alias" not in unipost_host.channel_types()
    assert "fake" not in unipost_host.channel_types()
    assert unipost_host.observers() == []
    assert issubclass(unipost_host.channel_class("site"), unipost.Channel)


# -- allow and block lists --------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "loaded"),
    [
        ("UNIPOST_LOAD_PLUGINS", "good", {"good"}),
        ("UNIPOST_LOAD_PLUGINS", " good , dup ", {"good", "dup"}),
        ("UNIPOST_LOAD_PLUGINS", "", set()),
        ("UNIPOST_DISABLE_PLUGINS", "broken,dup", {"good"}),
        ("UNIPOST_DISABLE_PLUGINS", "good", {"broken", "dup"}),
    ],
)
def test_environment_filters_entry_points(
    host: PluginHost,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    loaded: set[str],
) -> None:
    monkeypatch.setenv(variable, value)
    infos = host.plugins()
    assert {i.name for i in infos if not i.builtin} == loaded
    assert {i.name for i in infos if i.builtin} == {"site", "email", "webhook"}, "built-ins stay"
    if loaded == {"good", "dup"}:
        assert _by_name(infos)["dup"].error is not None


def _cli(cwd: Path, *args: str, **env: str) -> str:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("UNIPOST_LOAD_PLUGINS", "UNIPOST_DISABLE_PLUGINS", "UNIPOST_CONFIG")
    }
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-m", "unipost", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {"good": None, "broken": "import failed", "dup": "already registered by up-good"}),
        ({"UNIPOST_DISABLE_PLUGINS": "broken,mastodon"}, {"good": None, "dup": "already"}),
        ({"UNIPOST_LOAD_PLUGINS": "good,bluesky"}, {"good": None, "bluesky": None}),
    ],
)
def test_cli_end_to_end_with_broken_plugins_and_filters(
    tmp_path: Path, env: dict[str, str], expected: Mapping[str, str | None]
) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    _install_fake_dists(site)
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    rows = json.loads(_cli(tmp_path, "--json", "plugins", PYTHONPATH=path, **env))
    named = {row["name"]: row for row in rows if not row["builtin"]}
    if "UNIPOST_LOAD_PLUGINS" in env:
        assert set(named) == set(expected)
    else:
        assert set(expected) <= set(named)
    disabled = set(env.get("UNIPOST_DISABLE_PLUGINS", "").split(",")) - {""}
    assert not disabled & set(named)
    for name, error in expected.items():
        if error is None:
            assert named[name]["error"] is None
        else:
            assert error in named[name]["error"]
    # publishing goes on: the built-in site channel works with broken plugins installed
    (tmp_path / "unipost.toml").write_text(
        '[outbox]\npath = "memory"\n[channels.good]\ntype = "goodchan"\n'
        '[channels.site]\ntype = "site"\ndirectory = "public"\n',
        encoding="utf-8",
    )
    out = _cli(
        tmp_path, "--json", "publish", "Open at nine", "--to", "good,site", PYTHONPATH=path, **env
    )
    report = json.loads(out)
    assert report["status"] == "succeeded"
    assert {o["channel"] for o in report["outcomes"]} == {"good", "site"}


# -- lazy loading ---------------------------------------------------------------


def test_import_unipost_imports_no_plugin() -> None:
    code = (
        "import sys, unipost, unipost.testing\n"
        "plugins = sorted(m for m in sys.modules if m.startswith('unipost_')"
        " or m.startswith('unipost.channels'))\n"
        "assert not plugins, plugins\n"
        "unipost.plugins.default_host().channel_class('mastodon')\n"
        "assert 'unipost_mastodon' in sys.modules and 'unipost_meta' in sys.modules\n"
        "print('lazy')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "lazy"


def test_a_host_imports_nothing_until_first_asked(fake_dists: Path) -> None:
    host = PluginHost(entry_points=_points("up-good"))
    assert "up_good" not in sys.modules
    host.channel_class("goodchan")
    assert "up_good" in sys.modules


# -- the hooks, one test each (checked by test_plugin_hooks_have_tests) ----------


def test_hook_register_channels(unipost_host: PluginHost) -> None:
    server = FakeServer()
    channel_class = type(fake_channel("x", server=server))

    class Plugin:
        @unipost.hookimpl
        def unipost_register_channels(self, register: Any) -> None:
            register(channel_class, aliases=("fake-alias",))

    unipost_host.register_plugin(Plugin(), "fakes", distribution="fakes-dist")
    assert unipost_host.channel_class("fake") is channel_class
    assert unipost_host.channel_class("fake-alias") is channel_class
    info = _by_name(unipost_host.plugins())["fakes"]
    assert (info.distribution, info.channels, info.error) == ("fakes-dist", ("fake",), None)


class SecretStore:
    """A business tool's vault, answering for the accounts it knows."""

    def __init__(self, secrets: Mapping[tuple[str, str], Mapping[str, Any]]) -> None:
        self.secrets = secrets
        self.asked: list[tuple[str, str, dict[str, Any]]] = []

    @unipost.hookimpl
    def unipost_resolve_credentials(
        self, channel: str, account: str, config: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        self.asked.append((channel, account, dict(config)))
        return self.secrets.get((channel, account))


class Abstains:
    @unipost.hookimpl
    def unipost_resolve_credentials(
        self, channel: str, account: str, config: Mapping[str, Any]
    ) -> None:
        return None


def test_hook_resolve_credentials(unipost_host: PluginHost, tmp_path: Path) -> None:
    signing = "whsec_" + "c2VjcmV0LWZyb20tdGhlLXZhdWx0"  # base64 of "secret-from-the-vault"
    vault = SecretStore(
        {("webhook", "crm"): {"url": "https://hooks.example/in", "secret": signing}}
    )
    unipost_host.register_plugin(vault, "vault")
    unipost_host.register_plugin(Abstains(), "abstains")
    (tmp_path / "unipost.toml").write_text(
        '[channels.crm]\ntype = "webhook"\nevent_type = "news"\n'
        '[channels.site]\ntype = "site"\ndirectory = "public"\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path / "unipost.toml", host=unipost_host)
    crm = config.channels["crm"]
    assert (crm.url, crm.secret, crm.event_type) == ("https://hooks.example/in", signing, "news")  # type: ignore[attr-defined]
    assert ("webhook", "crm", {"event_type": "news"}) in vault.asked
    assert ("site", "site", {"directory": "public"}) in vault.asked
    assert signing not in repr(config)
    assert config.channels["site"].name == "site"


def test_a_failing_secret_store_is_named(unipost_host: PluginHost, tmp_path: Path) -> None:
    class Vault:
        @unipost.hookimpl
        def unipost_resolve_credentials(
            self, channel: str, account: str, config: Mapping[str, Any]
        ) -> Mapping[str, Any] | None:
            raise ConnectionError("vault sealed")

    unipost_host.register_plugin(Vault(), "sealed-vault")
    (tmp_path / "unipost.toml").write_text('[channels.site]\ntype = "site"\n', encoding="utf-8")
    with pytest.raises(PluginError, match="sealed-vault") as caught:
        load_config(tmp_path / "unipost.toml", host=unipost_host)
    assert "channels.site" in str(caught.value)
    assert "vault sealed" in str(caught.value)


def test_hook_store_credentials(unipost_host: PluginHost) -> None:
    """Renewed credentials go to the first store that takes them; none: False."""
    assert unipost_host.store_credentials("x", "x-shop", {"refresh_token": "r1"}) is False
    kept: list[tuple[str, str, dict[str, Any]]] = []

    class Vault:
        @unipost.hookimpl
        def unipost_store_credentials(
            self, channel: str, account: str, values: Mapping[str, Any]
        ) -> bool:
            kept.append((channel, account, dict(values)))
            return True

    class Broken:
        @unipost.hookimpl
        def unipost_store_credentials(self, account: str) -> bool:
            raise ConnectionError("vault sealed")

    unipost_host.register_plugin(Vault(), "vault")
    assert unipost_host.store_credentials("x", "x-shop", {"refresh_token": "r2"}) is True
    assert kept == [("x", "x-shop", {"refresh_token": "r2"})]
    unipost_host.register_plugin(Broken(), "sealed")
    with pytest.raises(PluginError, match="sealed"):
        unipost_host.store_credentials("x", "x-shop", {"refresh_token": "r3"})


def test_hook_publish_event(unipost_host: PluginHost, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Event] = []

    class Audit:
        @unipost.hookimpl
        def unipost_publish_event(self, event: Event) -> None:
            seen.append(event)

    class Broken:
        @unipost.hookimpl
        def unipost_publish_event(self, event: Event) -> None:
            raise RuntimeError("metrics backend down")

    unipost_host.register_plugin(Broken(), "broken-metrics")
    unipost_host.register_plugin(Audit(), "audit")
    server = FakeServer()
    config = Config(channels={"fake": fake_channel("fake", server=server)}, outbox="memory")
    dispatcher = build_dispatcher(config, host=unipost_host, clock=VirtualClock())
    try:
        report = dispatcher.publish(unipost.Post(text="hello", id="p1"), "fake")
    finally:
        dispatcher.close()
    assert report.status is unipost.ReportStatus.SUCCEEDED
    assert len(server.posts) == 1
    names = [e.name for e in seen]
    assert names[0] == "attempt.start"
    assert "delivered" in names
    assert all(e.post_id == "p1" for e in seen if e.channel)
    assert "metrics backend down" in caplog.text


# -- meta-tests -----------------------------------------------------------------


def _hooks() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(function)
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, "unipost_spec")
    }


def test_hookspecs_are_found() -> None:
    assert set(_hooks()) == {
        "unipost_register_channels",
        "unipost_resolve_credentials",
        "unipost_store_credentials",
        "unipost_publish_event",
        "unipost_status_sources",
    }


def test_plugin_hooks_are_documented() -> None:
    """docs/writing-a-plugin.md has a heading ``### name(arg, ...)`` for every hook."""
    docs = (ROOT / "docs" / "writing-a-plugin.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### (unipost_\w+\([^)]*\))", docs, re.MULTILINE))
    for name, signature in _hooks().items():
        documented = f"{name}({', '.join(signature.parameters)})"
        assert documented in headings, f"document {documented} in docs/writing-a-plugin.md"


def test_plugin_hooks_have_tests() -> None:
    """Every hook has a ``test_hook_<name>`` test (the name without ``unipost_``)."""
    tests = Path(__file__).parent
    defined = {
        node.name
        for path in tests.rglob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef)
    }
    for name in _hooks():
        expected = "test_hook_" + name.removeprefix("unipost_")
        assert expected in defined, f"write {expected}"
