"""The email channel against real SMTP servers on 127.0.0.1.

aiosmtpd (STARTTLS and AUTH required, and a 465-style implicit-TLS server)
with trustme certificates for the happy paths and refusals; a tiny scripted
server for the failures aiosmtpd will not produce on demand (a drop after
DATA, a 421 greeting, silence).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
import socket
import ssl
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import attrs
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from unipost import Media, Post, errors
from unipost.channels.email import EmailChannel
from unipost.testing import ChannelContract, check, deliver

pytestmark = pytest.mark.integration

USER, PASSWORD = "alice", "alice-pass-123"
KEY = "up1-emailkey00000000000000000000000"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x03\x08\x02\x00\x00\x00"
    + bytes(20)
)


@attrs.define
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated: bool


@attrs.define
class Recorder:
    """An aiosmtpd handler that keeps what arrives and refuses some mailboxes."""

    received: list[Received] = attrs.field(factory=list)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.startswith("full@"):
            return "452 4.2.2 Mailbox full"
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        assert isinstance(envelope.mail_from, str)
        self.received.append(
            Received(
                envelope.mail_from, list(envelope.rcpt_tos), message, bool(session.authenticated)
            )
        )
        return "250 2.0.0 OK queued as 42"


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@attrs.define
class Server:
    port: int
    recorder: Recorder
    ca_file: str

    @property
    def received(self) -> list[Received]:
        return self.recorder.received


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, str]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_context, str(ca_file)


@contextlib.contextmanager
def running(controller: Controller) -> Iterator[None]:
    controller.start()
    try:
        yield
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def submission(tls: tuple[ssl.SSLContext, str]) -> Iterator[Server]:
    """Port 587 style: STARTTLS required, then AUTH required."""
    context, ca_file = tls
    recorder = Recorder()
    port = _free_port()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        server_hostname="localhost",
        tls_context=context,
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    with running(controller):
        yield Server(port, recorder, ca_file)


@pytest.fixture(scope="module")
def implicit_tls(tls: tuple[ssl.SSLContext, str]) -> Iterator[Server]:
    """Port 465 style: TLS from the first byte (aiosmtpd then accepts AUTH without STARTTLS)."""
    context, ca_file = tls
    recorder = Recorder()
    port = _free_port()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        server_hostname="localhost",
        ssl_context=context,
        authenticator=_authenticator,
        auth_required=False,
        auth_require_tls=False,
    )
    with running(controller):
        yield Server(port, recorder, ca_file)


@pytest.fixture
def server(submission: Server) -> Server:
    submission.received.clear()
    return submission


def channel_for(server: Server, **settings: Any) -> EmailChannel:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": "starttls",
        "username": USER,
        "password": PASSWORD,
        "from_addr": "Bakery <news@bakery.example>",
        "to": ["bob@example.test"],
        "ca_file": server.ca_file,
        "timeout": 10,
    }
    return EmailChannel.from_settings("news", base | settings)


class TestEmailContract(ChannelContract):
    channel_class = EmailChannel
    http = False
    secrets = (PASSWORD,)

    @pytest.fixture(autouse=True)
    def _server(self, server: Server) -> None:
        self.server = server

    def make_channel(self) -> EmailChannel:
        return channel_for(self.server)

    def arrange_success(self, httpx_mock: Any) -> None:
        """The local server accepts every message; nothing goes through httpx."""


# -- messages arrive intact ------------------------------------------------------


def test_starttls_auth_and_a_complete_message(server: Server) -> None:
    channel = channel_for(
        server,
        unsubscribe_url="https://bakery.example/unsub",
        unsubscribe_mailto="unsub@bakery.example",
    )
    post = Post(
        title="Grüße from the bakery ☕",
        text="Fresh croissants <today>!\n\nhttps://bakery.example/offer",
        media=[Media.from_bytes(PNG, filename="tray.png", alt="A tray")],
        language="de",
        id="p1",
    )
    receipt = deliver(channel, post, delivery_key=KEY)

    [got] = server.received
    message = got.message
    assert got.authenticated
    assert got.mail_from == "news@bakery.example"
    assert got.rcpt_tos == ["bob@example.test"]
    assert message["Message-ID"] == f"<{KEY}@bakery.example>"
    assert email.utils.parsedate_to_datetime(message["Date"]) is not None
    assert message["Subject"] == "Grüße from the bakery ☕"
    assert message["To"] == "bob@example.test"
    unsubscribe = message["List-Unsubscribe"].strip()  # long enough to be folded
    assert unsubscribe == "<https://bakery.example/unsub>, <mailto:unsub@bakery.example>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Content-Language"] == "de"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert "Fresh croissants <today>!" in plain.get_content()
    html_text = html.get_content()
    assert "Fresh croissants &lt;today&gt;!" in html_text
    assert '<a href="https://bakery.example/offer">' in html_text
    related = message.get_payload()[1]
    assert related.get_content_type() == "multipart/related"
    image = related.get_payload()[1]
    assert image.get_content_type() == "image/png"
    assert image.get_payload(decode=True) == PNG
    assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html_text
    assert receipt.platform_id == f"{KEY}@bakery.example"
    assert receipt.url == f"mid:{KEY}@bakery.example"
    assert [(r.recipient, r.ok) for r in receipt.recipients] == [("***@example.test", True)]


def test_every_line_is_7bit_and_short(server: Server) -> None:
    deliver(channel_for(server), Post(text="ü" * 3000, id="p"))
    raw = server.received[0].message.as_bytes()
    assert raw.isascii()
    assert max(len(line) for line in raw.split(b"\n")) <= 998


def test_images_as_attachments(server: Server) -> None:
    channel = channel_for(server, images="attach")
    deliver(
        channel,
        Post(text="See attached", media=[Media.from_bytes(PNG, filename="tray.png")], id="p"),
    )
    message = server.received[0].message
    assert message.get_content_type() == "multipart/mixed"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "tray.png"
    assert attachment.get_payload(decode=True) == PNG
    html = message.get_body(("html",))
    assert html is not None
    assert "cid:" not in html.get_content()


def test_subject_falls_back_to_the_first_line(server: Server) -> None:
    deliver(channel_for(server), Post(text="Open 9-5 today\nand tomorrow", id="p"))
    assert server.received[0].message["Subject"] == "Open 9-5 today"


def test_implicit_tls(implicit_tls: Server) -> None:
    implicit_tls.received.clear()
    channel = channel_for(implicit_tls, security="tls")
    receipt = deliver(channel, Post(text="Over implicit TLS", id="p"), delivery_key=KEY)
    [got] = implicit_tls.received
    assert got.authenticated
    assert got.message["Message-ID"] == f"<{KEY}@bakery.example>"
    assert receipt.recipients[0].ok


def test_check_logs_in(server: Server) -> None:
    assert (
        check(channel_for(server)) == f"127.0.0.1:{server.port} (starttls), authenticated as alice"
    )


# -- recipients ------------------------------------------------------------------


def test_bcc_batches_keep_addresses_out_of_headers(server: Server) -> None:
    to = ["a@example.test", "b@example.test", "c@example.test"]
    receipt = deliver(channel_for(server, to=to, mode="bcc", batch_size=2), Post(text="hi", id="p"))
    assert [r.rcpt_tos for r in server.received] == [to[:2], to[2:]]
    for got in server.received:
        headers = "".join(f"{k}: {v}\n" for k, v in got.message.items())
        assert "example.test" not in headers
        assert got.message["To"] == "Bakery <news@bakery.example>"
        assert got.message["Bcc"] is None
    assert [r.ok for r in receipt.recipients] == [True, True, True]
    assert {r.recipient for r in receipt.recipients} == {"***@example.test"}


def test_each_mode_sends_one_message_per_recipient(server: Server) -> None:
    to = ["a@example.test", "b@example.test"]
    deliver(channel_for(server, to=to), Post(text="hi", id="p"), delivery_key=KEY)
    assert [(r.rcpt_tos, r.message["To"]) for r in server.received] == [([a], a) for a in to]
    assert {r.message["Message-ID"] for r in server.received} == {f"<{KEY}@bakery.example>"}


def test_recipients_from_csv(server: Server, tmp_path: Path) -> None:
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(
        "name,Email\nAnna,anna@example.test\nBen,ben@example.test\n"
        "Anna again,ANNA@example.test\nNo mail,\nTypo,not-an-address\n",
        encoding="utf-8",
    )
    channel = channel_for(server, to=[], recipients_csv=str(csv_file))
    receipt = deliver(channel, Post(text="From the list", id="p"))
    assert [r.rcpt_tos for r in server.received] == [["anna@example.test"], ["ben@example.test"]]
    assert [(r.recipient, r.ok, r.reason) for r in receipt.recipients] == [
        ("***", False, "not an e-mail address"),
        ("***@example.test", True, None),
        ("***@example.test", True, None),
    ]


def test_csv_without_an_email_column_is_permanent(server: Server, tmp_path: Path) -> None:
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("name,address\nAnna,anna@example.test\n")
    with pytest.raises(errors.Permanent, match="no 'email' column"):
        deliver(channel_for(server, to=[], recipients_csv=str(csv_file)), Post(text="x", id="p"))


def test_some_recipients_refused(server: Server) -> None:
    to = ["nobody@example.test", "bob@example.test"]
    receipt = deliver(channel_for(server, to=to), Post(text="hi", id="p"))
    assert [(r.ok, (r.reason or "")[:3]) for r in receipt.recipients] == [
        (False, "550"),
        (True, ""),
    ]
    assert len(server.received) == 1


@pytest.mark.parametrize(
    ("address", "expected"),
    [("nobody@example.test", errors.Permanent), ("full@example.test", errors.Transient)],
)
def test_every_recipient_refused(server: Server, address: str, expected: type[Exception]) -> None:
    with pytest.raises(expected, match="every recipient was refused"):
        deliver(channel_for(server, to=[address]), Post(text="hi", id="p"))


# -- failures ----------------------------------------------------------------------


def test_wrong_password_is_auth_failed(server: Server) -> None:
    with pytest.raises(errors.AuthFailed) as caught:
        deliver(channel_for(server, password="wrong-password"), Post(text="hi", id="p"))
    assert caught.value.platform_code == "535"
    assert "wrong-password" not in str(caught.value)
    assert not server.received


def test_untrusted_certificate_is_refused(server: Server) -> None:
    with pytest.raises(errors.Permanent, match="certificate"):
        deliver(channel_for(server, ca_file=None), Post(text="hi", id="p"))
    assert not server.received


def test_connection_refused_is_not_sent() -> None:
    channel = EmailChannel.from_settings(
        "news",
        {
            "host": "127.0.0.1",
            "port": _free_port(),
            "security": "none",
            "from_addr": "n@bakery.example",
            "to": ["b@example.test"],
        },
    )
    with pytest.raises(errors.NotSent, match="could not connect"):
        deliver(channel, Post(text="hi", id="p"))


@attrs.define
class Scripted:
    """A minimal SMTP server that answers from a script.

    ``END`` is the reply after the message data; ``None`` drops the connection
    instead, and a list gives one reply per message.
    """

    replies: dict[str, Any]
    port: int = 0
    data: list[bytes] = attrs.field(factory=list)
    _listener: socket.socket = attrs.field(init=False)
    _stop: threading.Event = attrs.field(init=False, factory=threading.Event)

    def __attrs_post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with connection:
                connection.settimeout(5)
                with contextlib.suppress(OSError):
                    self._talk(connection)

    def _talk(self, connection: socket.socket) -> None:
        reader = connection.makefile("rb")
        greeting = self.replies.get("greeting", "220 scripted ESMTP")
        if greeting is None:
            self._stop.wait(3)  # say nothing: the client must time out
            return
        connection.sendall(greeting.encode() + b"\r\n")
        while line := reader.readline():
            verb = line.split(b" ", 1)[0].strip().upper().decode()
            if verb == "EHLO":
                connection.sendall(b"250-scripted\r\n250 8BITMIME\r\n")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                connection.sendall((self.replies.get(verb) or "250 OK").encode() + b"\r\n")
            elif verb == "DATA":
                connection.sendall(b"354 go ahead\r\n")
                body = b""
                while (chunk := reader.readline()) and chunk != b".\r\n":
                    body += chunk
                self.data.append(body)
                end = self.replies.get("END", "250 OK queued")
                if isinstance(end, list):
                    end = end.pop(0)
                if end is None:
                    return  # the message is in; the reply never comes
                connection.sendall(end.encode() + b"\r\n")
            elif verb == "QUIT":
                connection.sendall(b"221 bye\r\n")
                return
            else:
                connection.sendall(b"502 not implemented\r\n")


@pytest.fixture
def scripted() -> Iterator[Any]:
    servers: list[Scripted] = []

    def start(**replies: Any) -> Scripted:
        servers.append(Scripted(replies))
        return servers[-1]

    yield start
    for one in servers:
        one.close()


def plain_channel(port: int, **settings: Any) -> EmailChannel:
    base = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_addr": "n@bakery.example",
        "to": ["b@example.test"],
        "timeout": 2,
    }
    return EmailChannel.from_settings("news", base | settings)


def test_drop_after_data_is_ambiguous(scripted: Any) -> None:
    smtp = scripted(END=None)
    with pytest.raises(errors.Ambiguous) as caught:
        deliver(plain_channel(smtp.port), Post(text="Maybe delivered", id="p"))
    assert caught.value.may_have_applied
    assert len(smtp.data) == 1
    assert b"Maybe delivered" in smtp.data[0]


def test_drop_after_others_got_it_is_reported_per_recipient(scripted: Any) -> None:
    """Once one recipient has the mail, a later failure is a partial result, not a retry of all."""
    smtp = scripted(END=["250 OK queued", None])
    two = ["a@example.test", "b@example.test"]
    receipt = deliver(plain_channel(smtp.port, to=two), Post(text="x", id="p"))
    first, second = receipt.recipients
    assert (first.ok, second.ok) == (True, False)
    assert "may have been delivered" in (second.reason or "")
    assert len(smtp.data) == 2


@pytest.mark.parametrize(
    ("replies", "expected", "code"),
    [
        ({"END": "451 4.3.0 Local error, try again"}, errors.Transient, "451"),
        ({"END": "554 5.7.1 Rejected as spam"}, errors.Permanent, "554"),
        ({"MAIL": "421 4.7.0 Too many connections"}, errors.Transient, "421"),
        ({"MAIL": "553 5.7.1 Sender not allowed"}, errors.Permanent, "553"),
    ],
)
def test_smtp_replies_map_to_classes(
    scripted: Any, replies: dict[str, str], expected: type[errors.DeliveryError], code: str
) -> None:
    smtp = scripted(**replies)
    with pytest.raises(expected) as caught:
        deliver(plain_channel(smtp.port), Post(text="x", id="p"))
    assert caught.value.platform_code == code
    assert not caught.value.may_have_applied


def test_421_greeting_is_not_sent(scripted: Any) -> None:
    smtp = scripted(greeting="421 4.3.2 Service shutting down")
    with pytest.raises(errors.NotSent):
        deliver(plain_channel(smtp.port), Post(text="x", id="p"))


def test_silent_server_times_out_as_not_sent(scripted: Any) -> None:
    smtp = scripted(greeting=None)
    with pytest.raises(errors.NotSent, match="timed out"):
        deliver(plain_channel(smtp.port, timeout=1), Post(text="x", id="p"))


def test_starttls_missing_is_never_a_plaintext_fallback(scripted: Any) -> None:
    smtp = scripted()
    with pytest.raises(errors.Permanent, match="does not offer STARTTLS"):
        deliver(plain_channel(smtp.port, security="starttls"), Post(text="x", id="p"))
    assert smtp.data == []


# -- settings ----------------------------------------------------------------------


def test_settings_are_checked() -> None:
    base = {"host": "smtp.example", "from_addr": "n@bakery.example", "to": ["b@example.test"]}
    with pytest.raises(errors.ConfigurationError, match="clear text"):
        EmailChannel.from_settings("news", base | {"security": "none"})
    with pytest.raises(errors.ConfigurationError, match="both username and password"):
        EmailChannel.from_settings("news", base | {"username": "alice"})
    with pytest.raises(errors.ConfigurationError, match="recipients"):
        EmailChannel.from_settings("news", base | {"to": []})
    with pytest.raises(errors.ConfigurationError, match="mode"):
        EmailChannel.from_settings("news", base | {"mode": "cc"})
    with pytest.raises(errors.ConfigurationError, match="not an e-mail address"):
        EmailChannel.from_settings("news", base | {"to": ["bob"]})
    with pytest.raises(errors.ConfigurationError, match="from_addr"):
        EmailChannel.from_settings("news", base | {"from_addr": "x\r\nBcc: evil@example.test"})
    channel = EmailChannel.from_settings("news", base | {"password": "s3cret-pw", "username": "a"})
    assert channel.smtp_port == 465
    assert channel.failure_domain == "smtp:smtp.example"
    assert "s3cret-pw" not in repr(channel)
    starttls = EmailChannel.from_settings("news", base | {"security": "starttls"})
    assert starttls.smtp_port == 587
    assert channel.message_id("up1 odd/key") == "<up1-odd/key@bakery.example>"


def _dispatch(channel: EmailChannel, **options: Any) -> Any:
    from unipost import Dispatcher, MemoryStore
    from unipost.testing import VirtualClock

    return Dispatcher(
        channels={channel.id: channel}, store=MemoryStore(), clock=VirtualClock(), seed=4, **options
    )


def test_row_40_drop_after_data_is_held_not_resent(scripted: Any) -> None:
    """Fault matrix row 40: the connection drops after the final '.', before 250 → ambiguous, held."""
    smtp = scripted(END=None)
    dispatcher = _dispatch(plain_channel(smtp.port))
    try:
        report = dispatcher.publish(Post(text="Maybe delivered", id="row40"), to="news")
    finally:
        dispatcher.close()
    assert report.status.value == "ambiguous"
    assert report["news"].state.value == "ambiguous"
    assert len(smtp.data) == 1  # never resent on a guess


def test_row_40_opted_in_resend_keeps_the_message_id(scripted: Any) -> None:
    """With on_ambiguous = "retry" the resend carries the same Message-ID and is flagged."""
    smtp = scripted(END=[None, "250 OK queued"])
    dispatcher = _dispatch(plain_channel(smtp.port), retry_ambiguous=frozenset({"news"}))
    try:
        report = dispatcher.publish(Post(text="Maybe delivered", id="row40b"), to="news")
    finally:
        dispatcher.close()
    assert report.ok, str(report)
    assert report["news"].possible_duplicate
    assert len(smtp.data) == 2
    ids = [email.message_from_bytes(body)["Message-ID"] for body in smtp.data]
    assert ids[0] == ids[1]
    assert ids[0].startswith("<up1-")
