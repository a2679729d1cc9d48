"""unipost.toml: channels, named routes, secrets from the environment, and the errors a typo gets."""

from __future__ import annotations

import base64
import types
from pathlib import Path
from typing import ClassVar

import attrs
import pytest

from unipost import Capabilities, Channel, build_dispatcher, load_config
from unipost.channels.email import EmailChannel
from unipost.channels.webhook import WebhookChannel
from unipost.config import Config, parse_config
from unipost.errors import ConfigurationError, MissingSecret, UnknownChannel
from unipost.hookspecs import hookimpl
from unipost.outbox import MemoryStore
from unipost.plugins import PluginHost
from unipost.redact import forget_secrets, redact
from unipost.routes import AllOf, FirstOf, Leaf
from unipost.sqlite_store import SQLiteStore

HOOK_URL = "https://hooks.bakery.example/in/t0k3n-c0nfig"
HOOK_SECRET = "whsec_" + base64.b64encode(b"thirty-two bytes of signing key!").decode()

FULL = """
allow_inline_secrets = false

[outbox]
path = "{outbox}"

[dispatch]
deadline = 12.5
attempt_timeout = 7
max_in_flight = 8
per_domain = 2

[channels.site]
type = "site"
directory = "{site}"
site_url = "https://bakery.example/news/"
title = "Bakery news"

[channels.hook]
type = "webhook"
url = {{ env = "TEST_HOOK_URL" }}
secret = {{ env = "TEST_HOOK_SECRET" }}
on_ambiguous = "retry"

[channels.email-list]
type = "email"
host = "smtp.bakery.example"
from_addr = "news@bakery.example"
username = "news@bakery.example"
password = {{ env = "TEST_SMTP_PASSWORD" }}
to = ["one@customers.example", "two@customers.example"]

[routes]
default = "site"
everyone = ["site", "hook"]
announce = {{ all_of = ["site", {{ first_of = ["hook", "email-list"], patience = 60 }}] }}
some = {{ all_of = ["site", "hook", "email-list"], min_success = 1 }}
careful = {{ first_of = ["hook", "email-list"], on_ambiguous = "continue" }}
"""


@pytest.fixture
def host() -> PluginHost:
    """Only the built-in channel types: these tests do not depend on installed plugins."""
    return PluginHost(entry_points=[])


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HOOK_URL", HOOK_URL)
    monkeypatch.setenv("TEST_HOOK_SECRET", HOOK_SECRET)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "smtp-pa55word-x")


def write(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "unipost.toml"
    file.write_text(text, encoding="utf-8")
    return file


@pytest.mark.usefixtures("secrets_env")
def test_a_full_file_builds_channels_routes_outbox_and_dispatch(
    tmp_path: Path, host: PluginHost
) -> None:
    outbox = tmp_path / "data" / "outbox.sqlite3"
    file = write(tmp_path, FULL.format(outbox=outbox, site=tmp_path / "public"))
    config = load_config(file, host=host)

    assert config.source == str(file)
    assert sorted(config.channels) == ["email-list", "hook", "site"]
    site, hook, mail = (config.channels[n] for n in ("site", "hook", "email-list"))
    assert site.id == "site"
    assert site.title == "Bakery news"
    assert isinstance(hook, WebhookChannel)
    assert (hook.url, hook.secret) == (HOOK_URL, HOOK_SECRET), "secrets come from the environment"
    assert isinstance(mail, EmailChannel)
    assert mail.password == "smtp-pa55word-x"
    assert mail.to == ("one@customers.example", "two@customers.example")
    for channel in (hook, mail):
        shown = repr(channel)
        assert HOOK_URL not in shown
        assert HOOK_SECRET not in shown
        assert "smtp-pa55word-x" not in shown
    assert config.retry_ambiguous == frozenset({"hook"})

    assert config.routes["default"] == Leaf("site")
    assert config.routes["everyone"] == AllOf(targets=(Leaf("site"), Leaf("hook")))
    announce = config.routes["announce"]
    assert isinstance(announce, AllOf)
    assert announce.targets[1] == FirstOf(
        targets=(Leaf("hook"), Leaf("email-list")), patience=60, on_ambiguous="hold"
    )
    some = config.routes["some"]
    assert isinstance(some, AllOf)
    assert some.min_success == 1
    careful = config.routes["careful"]
    assert isinstance(careful, FirstOf)
    assert careful.on_ambiguous == "continue"
    assert config.route("announce") == announce, "a route name resolves to the route"
    assert config.route(None) == Leaf("site"), "no --to means the route named default"
    assert config.route(["site", "hook"]) == config.routes["everyone"]

    dispatcher = build_dispatcher(config, host=host)
    try:
        assert (dispatcher.deadline, dispatcher.attempt_timeout) == (12.5, 7)
        assert (dispatcher.max_in_flight, dispatcher.per_domain) == (8, 2)
        assert isinstance(dispatcher.store, SQLiteStore)
        assert dispatcher.store.location == str(outbox)
        assert dispatcher.retry_ambiguous == frozenset({"hook"})
    finally:
        dispatcher.close()
    assert outbox.exists(), "[outbox] path is where the records are kept"


def test_no_file_means_the_site_feed_in_dot_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: PluginHost
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNIPOST_CONFIG", raising=False)
    config = load_config(host=host)
    assert list(config.channels) == ["site"]
    assert config.source == "built-in defaults"
    assert config.route(None) == Leaf("site")
    assert config.channels["site"].root == Path("site")  # type: ignore[attr-defined]


def test_the_file_is_found_in_the_working_directory_or_by_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: PluginHost
) -> None:
    monkeypatch.delenv("UNIPOST_CONFIG", raising=False)
    write(tmp_path, '[channels.blog]\ntype = "site"\ndirectory = "blog"\n')
    monkeypatch.chdir(tmp_path)
    assert list(load_config(host=host).channels) == ["blog"]
    other = tmp_path / "elsewhere.toml"
    other.write_text('[channels.news]\ntype = "site"\n', encoding="utf-8")
    monkeypatch.setenv("UNIPOST_CONFIG", str(other))
    assert list(load_config(host=host).channels) == ["news"]
    monkeypatch.setenv("UNIPOST_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigurationError) as caught:
        load_config(host=host)
    assert caught.value.field == "UNIPOST_CONFIG"


def test_outbox_memory_and_default_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: PluginHost
) -> None:
    memory = parse_config({"outbox": {"path": "memory"}}, host=host)
    assert isinstance(memory.store(), MemoryStore)
    monkeypatch.setenv("UNIPOST_OUTBOX", str(tmp_path / "env-outbox.sqlite3"))
    store = parse_config({}, host=host).store()
    try:
        assert store.location == str(tmp_path / "env-outbox.sqlite3")
    finally:
        store.close()


def test_an_inline_secret_needs_allow_inline_secrets(host: PluginHost) -> None:
    raw = {"type": "webhook", "url": HOOK_URL, "secret": HOOK_SECRET}
    with pytest.raises(ConfigurationError) as caught:
        parse_config({"channels": {"hook": raw}}, host=host)
    assert caught.value.field == "channels.hook.url"
    assert 'url = { env = "NAME" }' in caught.value.fix
    assert "allow_inline_secrets" in caught.value.fix
    assert HOOK_URL not in str(caught.value)
    config = parse_config({"allow_inline_secrets": True, "channels": {"hook": raw}}, host=host)
    assert config.channels["hook"].url == HOOK_URL  # type: ignore[attr-defined]


def test_an_unset_variable_names_it_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, host: PluginHost
) -> None:
    monkeypatch.delenv("TEST_UNSET_HOOK_URL", raising=False)
    monkeypatch.setenv("TEST_EMPTY", "")
    data = {
        "channels": {
            "hook": {"type": "webhook", "url": {"env": "TEST_UNSET_HOOK_URL"}, "secret": "x"}
        }
    }
    data["allow_inline_secrets"] = True  # type: ignore[assignment]
    config = parse_config(data, host=host)  # read-only work needs no secret
    assert list(config.channels) == ["hook"]
    assert list(config.lacking()) == ["hook"]
    with pytest.raises(MissingSecret) as caught:
        config.channels["hook"]  # about to send: now it is needed
    assert caught.value.field == "channels.hook.url"
    assert "TEST_UNSET_HOOK_URL is not set" in caught.value.problem
    assert caught.value.fix == "export TEST_UNSET_HOOK_URL=... before running"
    data["channels"]["hook"]["url"] = {"env": "TEST_EMPTY"}
    with pytest.raises(MissingSecret, match="TEST_EMPTY"):
        parse_config(data, host=host).channels["hook"]


@pytest.mark.parametrize(
    ("data", "field", "fix_mentions"),
    [
        ({"chanels": {}}, "chanels", "channels"),
        (
            {"channels": {"site": {"type": "site", "directroy": "x"}}},
            "channels.site.directroy",
            "directory",
        ),
        ({"channels": {"x": {"type": "sitee"}}}, "channels.x.type", "site"),
        ({"channels": {"x": {"directory": "x"}}}, "channels.x.type", 'type = "site"'),
        ({"channels": {"x": "site"}}, "channels.x", "[channels.x]"),
        (
            {"channels": {"m": {"type": "email", "from_addr": "a@b.example"}}},
            "channels.m.host",
            "host = ...",
        ),
        (
            {"channels": {"s": {"type": "site", "on_ambiguous": "maybe"}}},
            "channels.s.on_ambiguous",
            "hold",
        ),
        ({"channels": {"s": {"type": "site", "max_items": 0}}}, "channels.s", "fix the setting"),
        (
            {
                "channels": {
                    "h": {"type": "webhook", "url": {"env": "X", "default": "y"}, "secret": "s"}
                }
            },
            "channels.h.url",
            'env = "NAME"',
        ),
        ({"dispatch": {"deadlines": 3}}, "dispatch.deadlines", "deadline"),
        ({"outbox": {"file": "x.sqlite3"}}, "outbox", "path"),
        (
            {"channels": {"site": {"type": "site"}}, "routes": {"r": ["site", "fb"]}},
            "routes.r",
            "[channels.fb]",
        ),
        (
            {
                "channels": {"site": {"type": "site"}},
                "routes": {"r": {"first_of": ["site"], "patiense": 3}},
            },
            "routes.r.patiense",
            "patience",
        ),
        (
            {
                "channels": {"site": {"type": "site"}},
                "routes": {"r": {"all_of": ["site"], "min": 1}},
            },
            "routes.r.min",
            "min_success",
        ),
        (
            {"channels": {"site": {"type": "site"}}, "routes": {"r": {"any_of": ["site"]}}},
            "routes.r",
            "first_of",
        ),
        (
            {
                "channels": {"site": {"type": "site"}},
                "routes": {"r": {"all_of": ["site"], "min_success": 2}},
            },
            "routes.r",
            "count",
        ),
        ({"channels": {"site": {"type": "site"}}, "routes": {"r": 5}}, "routes.r", "all_of"),
    ],
)
def test_mistakes_name_the_key_and_the_fix(
    data: dict[str, object], field: str, fix_mentions: str, host: PluginHost
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_config(data, host=host)
    assert caught.value.field == field
    assert fix_mentions in caught.value.fix
    assert "\n" not in str(caught.value), "one line"


def test_an_unknown_type_is_also_an_unknown_channel(host: PluginHost) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_config({"channels": {"x": {"type": "myspace"}}}, host=host)
    assert "install unipost-myspace" in caught.value.fix
    assert isinstance(caught.value.__cause__, UnknownChannel)


def test_bad_toml_names_the_file(tmp_path: Path, host: PluginHost) -> None:
    file = write(tmp_path, "[channels.site\ntype = 'site'\n")
    with pytest.raises(ConfigurationError) as caught:
        load_config(file, host=host)
    assert caught.value.field == str(file)
    assert "not valid TOML" in caught.value.problem
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_config(tmp_path / "nope.toml", host=host)


def test_a_config_object_can_be_built_in_code(tmp_path: Path, host: PluginHost) -> None:
    site = host.channel_class("site").from_settings("site", {"directory": str(tmp_path)})
    config = Config(channels={"site": site}, outbox="memory")
    dispatcher = build_dispatcher(config, host=host)
    try:
        assert isinstance(dispatcher.store, MemoryStore)
        assert list(dispatcher.channels) == ["site"]
    finally:
        dispatcher.close()


# Values of the wrong type or out of range: (toml, field, words in the problem)
VALUE_CASES = [
    ('[dispatch]\ndeadline = "soon"\n', "dispatch.deadline", "in [dispatch], deadline must be"),
    ("[dispatch]\nattempt_timeout = -5\n", "dispatch.attempt_timeout", "above 0, not -5"),
    ("[dispatch]\nmax_in_flight = 2.5\n", "dispatch.max_in_flight", "whole number"),
    ("[dispatch]\nper_channel = true\n", "dispatch.per_channel", "not True"),
    ("[dispatch]\nper_domain = 0\n", "dispatch.per_domain", "1 or more"),
    (
        '[channels.news]\ntype = "email"\nhost = "h"\nfrom_addr = "a@b.example"\nport = "twenty-five"\n',
        "channels.news.port",
        "in [channels.news], port must be a whole number, not 'twenty-five'",
    ),
    (
        '[channels.news]\ntype = "email"\nhost = "h"\nfrom_addr = "a@b.example"\nport = 70000\n',
        "channels.news.port",
        "between 1 and 65535",
    ),
    (
        '[channels.news]\ntype = "email"\nhost = "h"\nfrom_addr = "a@b.example"\ntimeout = 0\n',
        "channels.news.timeout",
        "above 0",
    ),
    (
        '[channels.site]\ntype = "site"\nmax_items = "lots"\n',
        "channels.site.max_items",
        "in [channels.site], max_items must be a whole number, not 'lots'",
    ),
    ('[channels.site]\ntype = "site"\ntitle = 5\n', "channels.site.title", "must be a string"),
    ("[channels.site]\ntype = 5\n", "channels.site.type", "must be a string"),
    ('allow_inline_secrets = "yes"\n', "allow_inline_secrets", "true or false"),
    ("[outbox]\npath = 5\n", "outbox.path", "file name"),
    (
        '[channels.site]\ntype = "site"\n[routes]\nr = { first_of = ["site"], patience = "long" }\n',
        "routes.r.patience",
        "seconds above 0",
    ),
    (
        '[channels.site]\ntype = "site"\n[routes]\nr = { all_of = ["site"], min_success = 0 }\n',
        "routes.r.min_success",
        "1 or more",
    ),
]


@pytest.mark.parametrize(("toml", "field", "words"), VALUE_CASES)
def test_every_value_is_checked_naming_file_table_and_key(
    toml: str, field: str, words: str, tmp_path: Path, host: PluginHost
) -> None:
    file = write(tmp_path, toml)
    with pytest.raises(ConfigurationError) as caught:
        load_config(file, host=host)
    assert caught.value.field == field
    assert words in caught.value.problem
    assert f"(in {file})" in caught.value.problem
    assert caught.value.fix.startswith(("write", "use"))
    assert "\n" not in str(caught.value)


def test_settings_with_a_converter_decide_for_themselves(host: PluginHost) -> None:
    """Email's ``to`` takes one address or a list; numbers as floats where a float is declared."""
    config = parse_config(
        {
            "channels": {
                "news": {
                    "type": "email",
                    "host": "h",
                    "from_addr": "a@b.example",
                    "to": "one@customers.example",
                    "timeout": 5,
                }
            }
        },
        host=host,
    )
    assert config.channels["news"].to == ("one@customers.example",)  # type: ignore[attr-defined]


def test_recipient_numbers_in_the_config_are_masked_everywhere(host: PluginHost) -> None:
    """A platform that echoes a number without '+' still shows only its mask."""

    @attrs.frozen(kw_only=True)
    class TextChannel(Channel):
        name: ClassVar[str] = "texts"
        capabilities: ClassVar[Capabilities] = Capabilities(text_limit=160)
        to: tuple[str, ...] = attrs.field(converter=tuple)

    plugin = types.ModuleType("texts_plugin")  # hashable, as pluggy needs
    plugin.unipost_register_channels = hookimpl(lambda register: register(TextChannel))  # type: ignore[attr-defined]
    host.register_plugin(plugin, "texts")
    try:
        parse_config(
            {"channels": {"sms": {"type": "texts", "to": ["+49 151 2233 4455", "ops@x.example"]}}},
            host=host,
        )
        shown = redact("recipient 4915122334455 is not on WhatsApp; order 4915199999999")
        assert shown == "recipient +49*******4455 is not on WhatsApp; order 4915199999999"
    finally:
        forget_secrets()
