"""The Graph API layer the four Meta channels share.

Facebook, Instagram, WhatsApp and Threads speak one API: the same version
prefix, token handling, ``appsecret_proof``, error body and usage headers.
This module keeps that knowledge in one place, so an error code or a header
is mapped once and all four channels agree on it (they also share one failure
domain, ``meta``: one outage, one breaker).
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import attrs
import httpx

from unipost.plugin import (
    Absent,
    Ambiguous,
    AuthFailed,
    Change,
    Channel,
    ContentRejected,
    Context,
    CredentialStatus,
    DeliveryError,
    DuplicateSignal,
    ErrorClass,
    Expiry,
    Flow,
    Forbidden,
    Found,
    LookupResult,
    Media,
    Pause,
    Permanent,
    Post,
    Prepared,
    QuotaExhausted,
    RateLimited,
    Receipt,
    Transient,
    Unknown,
    error_for_status,
    json_body,
    parse_retry_after,
    request_id,
    secret,
)

__all__ = [
    "DEFAULT_API_VERSION",
    "ContainerChannel",
    "GraphChannel",
    "GraphError",
    "appsecret_proof",
    "error_for_graph",
    "form",
    "numeric_id",
    "usage_wait",
]

#: The Graph API version every call is pinned to unless ``api_version`` is set.
DEFAULT_API_VERSION = "v23.0"
GRAPH_URL = "https://graph.facebook.com"
FAILURE_DOMAIN = "meta"

# Meta gives no wait for app-level (X-App-Usage) throttling; usage is measured
# over a rolling hour and usually drops below 100 % within minutes.
THROTTLE_WAIT = 300.0
# Code 368 is a temporary policy block; Meta asks for a long back-off.
POLICY_BLOCK_WAIT = 3600.0
# WhatsApp allows about one message per 6 s to one recipient (131056).
PAIR_RATE_WAIT = 6.0

_VERSION = re.compile(r"v\d+\.\d+")
_RATE_CODES = frozenset({4, 17, 32, 613, 130429, 131056, 131048})
_BUC_CODES = range(80000, 80015)  # Business Use Case throttles: 80001 Pages, 80002 IG, 80007 WABA
_AUTH_SUBCODES = {
    458: "the app is not installed for this user",
    459: "the user must log in at facebook.com to pass a checkpoint",
    460: "the password changed, so the token was revoked",
    463: "the token has expired",
    464: "the user is not confirmed",
    467: "the token is invalid (logged out or revoked)",
}
# Instagram's 2207xxx subcodes, mapped by what they say about retrying.
_INSTAGRAM_SUBCODES: dict[int, tuple[ErrorClass, str]] = {
    2207001: (ErrorClass.TRANSIENT, "Instagram had a server error processing the media"),
    2207003: (ErrorClass.TRANSIENT, "Instagram took too long to download the media"),
    2207004: (ErrorClass.PERMANENT, "the image is too large (the limit is 8 MB)"),
    2207005: (ErrorClass.PERMANENT, "the media format is not supported (use JPEG images)"),
    2207006: (ErrorClass.PERMANENT, "the media was not found at its URL or is not public"),
    2207008: (ErrorClass.TRANSIENT, "the container expired or does not exist; a new one is needed"),
    2207009: (ErrorClass.PERMANENT, "the aspect ratio is not supported (4:5 to 1.91:1)"),
    2207010: (ErrorClass.PERMANENT, "the caption is too long"),
    2207020: (ErrorClass.TRANSIENT, "the media expired before publishing; upload it again"),
    2207026: (ErrorClass.PERMANENT, "the video format is not supported"),
    2207027: (ErrorClass.TRANSIENT, "the media is not ready for publishing yet"),
    2207032: (ErrorClass.TRANSIENT, "Instagram could not create the media; try again"),
    2207042: (ErrorClass.QUOTA_EXHAUSTED, "the account reached its daily publishing limit"),
    2207050: (ErrorClass.FORBIDDEN, "the account is inactive or restricted"),
    2207051: (ErrorClass.FORBIDDEN, "Instagram blocked the action (suspected spam)"),
    2207052: (ErrorClass.PERMANENT, "the media could not be fetched from its URL"),
    2207053: (ErrorClass.TRANSIENT, "Instagram had an unknown upload error"),
    2207057: (ErrorClass.PERMANENT, "the video thumbnail offset is invalid"),
}
# "Not ready yet" answers that say is_transient=false but succeed after polling.
_NOT_READY = frozenset({(9007, None), (9007, 2207027), (24, 4279009)})
_WHATSAPP_WINDOW = (
    "outside the 24-hour window: configure a template (free-form WhatsApp messages may only "
    "answer a customer who wrote within the last 24 hours; set template = {...} for this channel)"
)
_WHATSAPP_CODES: dict[int, tuple[ErrorClass, str]] = {
    131000: (ErrorClass.TRANSIENT, "WhatsApp had an internal error"),
    131016: (ErrorClass.TRANSIENT, "WhatsApp is temporarily unavailable"),
    131008: (ErrorClass.PERMANENT, "a required parameter is missing"),
    131009: (ErrorClass.PERMANENT, "a parameter value is invalid"),
    131026: (ErrorClass.PERMANENT, "the message could not be delivered to this number"),
    131047: (ErrorClass.PERMANENT, _WHATSAPP_WINDOW),
    131051: (ErrorClass.PERMANENT, "the message type is not supported"),
    132000: (ErrorClass.PERMANENT, "the template's parameter count does not match"),
    132001: (
        ErrorClass.PERMANENT,
        "the template name or language does not exist (or is not approved)",
    ),
    132018: (ErrorClass.PERMANENT, "a template parameter has a newline, tab or too many spaces"),
    133010: (ErrorClass.PERMANENT, "the business phone number is not registered"),
}


def appsecret_proof(token: str, app_secret: str) -> str:
    """HMAC-SHA256 of the token keyed by the app secret, as Graph's ``appsecret_proof``."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def form(params: Mapping[str, Any]) -> dict[str, str]:
    """Graph parameters as form fields: booleans lower-case, lists and objects as JSON."""
    fields: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            fields[name] = "true" if value else "false"
        elif isinstance(value, list | tuple | dict):
            fields[name] = json.dumps(value, separators=(",", ":"))
        else:
            fields[name] = str(value)
    return fields


def _json_header(headers: httpx.Headers, name: str) -> Any:
    raw = headers.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def usage_wait(headers: httpx.Headers) -> float | None:
    """Seconds to wait according to ``X-Business-Use-Case-Usage`` / ``X-App-Usage``.

    None when the headers say nothing is throttled. A BUC entry's
    ``estimated_time_to_regain_access`` (minutes) wins; a usage at 100 % with
    no estimate waits :data:`THROTTLE_WAIT`.
    """
    entries: list[Mapping[str, Any]] = []
    buc = _json_header(headers, "x-business-use-case-usage")
    if isinstance(buc, Mapping):
        for value in buc.values():
            if isinstance(value, list):
                entries.extend(e for e in value if isinstance(e, Mapping))
    app = _json_header(headers, "x-app-usage")
    if isinstance(app, Mapping):
        entries.append(app)
    if not entries:
        return None
    regain = max(_number(e.get("estimated_time_to_regain_access")) for e in entries)
    if regain > 0:
        return regain * 60
    usage = max(
        _number(e.get(key))
        for e in entries
        for key in ("call_count", "total_time", "total_cputime")
    )
    return THROTTLE_WAIT if usage >= 100 else None


@attrs.frozen(kw_only=True)
class GraphError:
    """The ``error`` object of a Graph response body."""

    message: str
    code: int | None = None
    subcode: int | None = None
    type: str | None = None
    user_message: str | None = None
    is_transient: bool = False
    fbtrace_id: str | None = None

    @classmethod
    def parse(cls, response: httpx.Response) -> GraphError | None:
        """The error in ``response``'s body, whatever its HTTP status; None if there is none."""
        try:
            body = response.json()
        except ValueError:
            return None
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return None

        def integer(value: Any) -> int | None:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None

        return cls(
            message=str(error.get("message") or "Graph API error"),
            code=integer(error.get("code")),
            subcode=integer(error.get("error_subcode")),
            type=error.get("type") if isinstance(error.get("type"), str) else None,
            user_message=error.get("error_user_msg")
            if isinstance(error.get("error_user_msg"), str)
            else None,
            is_transient=error.get("is_transient") is True,
            fbtrace_id=error.get("fbtrace_id")
            if isinstance(error.get("fbtrace_id"), str)
            else None,
        )

    @property
    def platform_code(self) -> str | None:
        if self.code is None:
            return None if self.subcode is None else str(self.subcode)
        return str(self.code) if self.subcode is None else f"{self.code}/{self.subcode}"


def _instagram_subcode(text: str) -> int | None:
    match = re.search(r"\b2207\d{3}\b", text)
    return int(match.group()) if match else None


def error_for_graph(response: httpx.Response, *, now: float) -> DeliveryError | None:
    """Map a Graph response onto the shared classes, by error code, never by HTTP status alone.

    Graph answers some errors with HTTP 200 and others with 400 or 500 whatever
    they mean, and gives rate limits the same ``type`` as auth failures, so the
    body's ``code`` and ``error_subcode`` decide. Unknown codes fall back to
    the HTTP status (>= 500 transient, other 4xx permanent).
    """
    error = GraphError.parse(response)
    if error is None:
        return error_for_status(response, now=now)
    code, subcode = error.code, error.subcode
    message = error.message
    if error.user_message and error.user_message not in message:
        message = f"{message} ({error.user_message})"
    common: dict[str, Any] = {
        "status": response.status_code,
        "platform_code": error.platform_code,
        "request_id": error.fbtrace_id or request_id(response),
        "detail": {"type": error.type} if error.type else {},
    }

    def make(error_class: ErrorClass, text: str, **extra: Any) -> DeliveryError:
        return DeliveryError.of(error_class, text, **common, **extra)

    if (code, subcode) in _NOT_READY or (code, None) in _NOT_READY:
        common["detail"]["not_ready"] = True
        return Transient(f"{message}: the media is still being processed", **common)
    instagram = subcode if subcode in _INSTAGRAM_SUBCODES else None
    if instagram is not None:
        error_class, meaning = _INSTAGRAM_SUBCODES[instagram]
        if error_class is ErrorClass.TRANSIENT and instagram == 2207027:
            common["detail"]["not_ready"] = True
        return make(error_class, f"{meaning}: {message}")
    if code == 190 or code == 102:
        why = _AUTH_SUBCODES.get(subcode or 0, "the token was rejected")
        return AuthFailed(f"{why}: {message} — create a new token", **common)
    if code in _RATE_CODES or (code is not None and code in _BUC_CODES):
        wait = usage_wait(response.headers) or parse_retry_after(response.headers, now=now)
        if wait is None:
            # No usage header at 100 % and no Retry-After: Meta's guidance is to stop and
            # back off, not to retry soon, so the wait is a real one (#14.2).
            wait = PAIR_RATE_WAIT if code == 131056 else THROTTLE_WAIT
        return RateLimited(message, retry_after=wait, **common)
    if code == 341:
        return QuotaExhausted(f"the app reached its Graph API limit: {message}", **common)
    if code == 368:
        return Forbidden(
            f"temporarily blocked for a policy reason; wait at least an hour: {message}",
            retry_after=POLICY_BLOCK_WAIT,
            **common,
        )
    if code == 10 or (code is not None and 200 <= code <= 299):
        return Forbidden(
            f"missing permission: {message} — grant it to the app and make a new token", **common
        )
    if code == 506:
        return DuplicateSignal(f"Facebook says this post already exists: {message}", **common)
    if code in _WHATSAPP_CODES:
        error_class, meaning = _WHATSAPP_CODES[code]
        return make(error_class, f"{meaning} ({message})")
    if code == 1:
        return Transient(message, may_have_applied=True, **common)
    if code == 2:
        return Transient(message, **common)
    if code == 100:
        return Permanent(f"invalid parameter: {message}", **common)
    if error.is_transient:
        return Transient(message, **common)
    fallback = error_for_status(response, message=message, now=now)
    if fallback is None:  # an error body with HTTP 200: the platform refused
        return Permanent(message, **common)
    return make(
        fallback.error_class,
        message,
        retry_after=fallback.retry_after,
        may_have_applied=fallback.may_have_applied,
    )


def check_version(_instance: Any, attribute: Any, value: str) -> None:
    if not _VERSION.fullmatch(value):
        raise ValueError(f"{attribute.name} {value!r} is not a Graph API version like 'v23.0'")


def numeric_id(_instance: Any, attribute: Any, value: str) -> None:
    """Graph account ids are numbers; a name or URL here is a common copy-paste slip."""
    if not value.isdigit():
        raise ValueError(
            f"{attribute.name} {value!r} must be the numeric id Graph gives the account"
        )


def strip_slash(value: str) -> str:
    return value.rstrip("/")


def check_base_url(_instance: Any, attribute: Any, value: str) -> None:
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"{attribute.name} {value!r} is not an http(s) URL")


def created_id(
    response: httpx.Response, what: str, *, key: str = "id", visible: bool = True
) -> str:
    """The id of what a create made; a 2xx without one is Ambiguous when it may be visible."""
    value = json_body(response).get(key)
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
        return str(value)
    text = f"{what}: HTTP {response.status_code} without an {key!r} in the answer"
    if visible:
        raise Ambiguous(text + " (the post may have been created)", status=response.status_code)
    raise Transient(text, status=response.status_code)


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        try:
            return dt.datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None


def same_text(published: Any, expected: str) -> bool:
    """Whether a text read back from Graph is the one we sent (whitespace-insensitive)."""
    if not isinstance(published, str) or not expected.strip():
        return False
    return " ".join(published.split()) == " ".join(expected.split())


#: Seconds of clock difference allowed between this machine and Meta's.
CLOCK_SLACK = 120.0
#: Pages of recent posts a lookup reads before it gives up with "unknown".
LOOKUP_PAGES = 8


def lookup_since(ctx: Context) -> float:
    """The oldest creation time a post of this record can have: its first attempt.

    An older post with the same text is an earlier publication (a business
    posting "Open 9-5 today" every day), never this record's.
    """
    return ctx.first_attempt_at - CLOCK_SLACK


def search_recent(
    first_page: httpx.Request, text_field: str, expected: str, *, since: float
) -> Flow[Mapping[str, Any] | Unknown | None]:
    """Page back through an account's posts (newest first) to ``since``.

    Returns the newest item created since then with the ``expected`` text,
    None when the listing reached back past ``since`` without one, and
    :class:`Unknown` when it could not look that far (a proven absence is what
    allows a resend, so running out of pages is never "absent").
    """
    request: httpx.Request | None = first_page
    best: tuple[float, Mapping[str, Any]] | None = None
    for _page in range(LOOKUP_PAGES):
        if request is None:
            return None if best is None else best[1]
        response = yield request
        body = json_body(response)
        items = body.get("data")
        if not isinstance(items, list):
            return Unknown("Graph listed the account's posts without a data array")
        reached = not items
        for item in items:
            if not isinstance(item, Mapping):
                continue
            created = _timestamp(item.get("created_time") or item.get("timestamp"))
            if created is None:
                continue
            if created < since:
                reached = True
                continue
            if same_text(item.get(text_field), expected) and (best is None or created > best[0]):
                best = (created, item)
        if reached:
            return None if best is None else best[1]
        paging = body.get("paging")
        following = paging.get("next") if isinstance(paging, Mapping) else None
        request = (
            httpx.Request("GET", following, headers=first_page.headers)
            if isinstance(following, str) and following
            else None
        )
    if best is not None:
        return best[1]
    return Unknown(f"read {LOOKUP_PAGES} pages of recent posts without reaching the first attempt")


@attrs.frozen(kw_only=True)
class GraphChannel(Channel):
    """Settings and request building shared by every Graph channel."""

    token: str = secret()
    app_secret: str | None = secret(default=None)
    api_version: str = attrs.field(default=DEFAULT_API_VERSION, validator=check_version)
    base_url: str = attrs.field(default=GRAPH_URL, converter=strip_slash, validator=check_base_url)

    #: Permissions ``check`` requires in the token's scopes (read from ``/debug_token``).
    permissions: ClassVar[tuple[str, ...]] = ()

    @property
    def failure_domain(self) -> str:
        """Meta products fail together: one breaker for Facebook, Instagram, WhatsApp, Threads."""
        return FAILURE_DOMAIN

    def url(self, *path: str) -> str:
        return "/".join((self.base_url, self.api_version, *path))

    def _auth(self, params: Mapping[str, Any] | None) -> tuple[dict[str, str], dict[str, str]]:
        query = form(params or {})
        if self.app_secret:
            query["appsecret_proof"] = appsecret_proof(self.token, self.app_secret)
        return {"Authorization": f"Bearer {self.token}"}, query

    def get(self, *path: str, params: Mapping[str, Any] | None = None) -> httpx.Request:
        """A read: GET is safe to repeat, so a timeout on it is Transient."""
        headers, query = self._auth(params)
        return httpx.Request("GET", self.url(*path), params=query, headers=headers)

    def post(
        self,
        *path: str,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        json_body: Mapping[str, Any] | None = None,
        safe: bool = False,
    ) -> httpx.Request:
        """A write. ``safe`` marks writes that cannot create anything visible (uploads)."""
        headers, query = self._auth(None)
        extensions = {"unipost.safe": True} if safe else {}
        if json_body is not None:
            return httpx.Request(
                "POST",
                self.url(*path),
                params=query,
                headers=headers,
                json=json_body,
                extensions=extensions,
            )
        return httpx.Request(
            "POST",
            self.url(*path),
            params=query,
            headers=headers,
            data=form(data or {}),
            files=files,
            extensions=extensions,
        )

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        return error_for_graph(response, now=now)

    # -- check ---------------------------------------------------------------

    def identity_request(self) -> httpx.Request:
        """The read that proves the token works for the configured account."""
        return self.get("me", params={"fields": "id,name"})

    def describe_identity(self, body: Mapping[str, Any]) -> str:
        return f"{self.name} {body.get('name') or body.get('id') or '?'}"

    def check_flow(self, ctx: Context) -> Flow[str | CredentialStatus]:
        """Verify the token on the account, then its permissions and lifetime when Graph
        will say (``/debug_token``: ``scopes``, ``expires_at``, ``data_access_expires_at``)."""
        response = yield (self.identity_request())
        described = self.describe_identity(json_body(response))
        if not self.permissions:
            return described
        try:
            response = yield (self.get("debug_token", params={"input_token": self.token}))
        except (Forbidden, Permanent) as error:
            return f"{described}; permissions not verified ({error.message})"
        data = json_body(response).get("data")
        if not isinstance(data, Mapping):
            return f"{described}; permissions not verified (no data from debug_token)"
        if data.get("is_valid") is False:
            raise AuthFailed("debug_token says the token is no longer valid — create a new token")
        scopes = data.get("scopes")
        if not isinstance(scopes, list):
            return f"{described}; permissions not verified (no scopes in debug_token)"
        missing = [p for p in self.permissions if p not in scopes]
        if missing:
            raise Forbidden(
                f"the token lacks {', '.join(missing)} — grant it to the app and make a new token"
            )
        return CredentialStatus(
            summary=f"{described}; permissions ok", expiries=token_expiries(data)
        )


def token_expiries(data: Mapping[str, Any]) -> tuple[Expiry, ...]:
    """What ``debug_token`` says about a token's life; 0 means it never expires.

    Neither is renewed by unipost: a Meta user token (and the Page token made
    from it) needs the person to log in again, so both are warned about.
    """
    found = []
    for key, credential in (
        ("expires_at", "access token"),
        ("data_access_expires_at", "data access"),
    ):
        at = _number(data.get(key))
        if at > 0:
            found.append(Expiry(credential=credential, at=at, source=f"debug_token {key}"))
    return tuple(found)


def _check_media_host(_instance: Any, attribute: Any, value: str | None) -> None:
    if value is not None and not value.startswith("https://"):
        raise ValueError(f"{attribute.name} {value!r} must be an https:// URL Meta can fetch from")


def _media_host(value: str | None) -> str | None:
    return None if value is None else value.rstrip("/") + "/"


@attrs.frozen(kw_only=True)
class ContainerChannel(GraphChannel):
    """Instagram and Threads: media containers are made, polled, then published.

    A container is invisible until published, and one container publishes at
    most once. So creating containers is safe to repeat, and an ambiguous
    publish can be settled by reading the container's status.
    """

    #: A base URL of a directory the business publishes; local files are referred to under it.
    media_host: str | None = attrs.field(
        default=None, converter=_media_host, validator=_check_media_host
    )
    #: Longest time to wait for Meta to process a container within one attempt (seconds).
    poll_timeout: float = 300.0

    create_edge: ClassVar[str]
    publish_edge: ClassVar[str]
    text_field: ClassVar[str]  # "caption" on Instagram, "text" on Threads
    status_field: ClassVar[str]  # "status_code" on Instagram, "status" on Threads
    status_detail: ClassVar[str]  # where the reason of an ERROR is given
    media_list_edge: ClassVar[str]

    @property
    @abc.abstractmethod
    def user_id(self) -> str:
        """The account whose edges (``/{id}/media``, ``/{id}/threads``) are used."""

    def hosted(self, post: Post) -> tuple[Post, list[Change]]:
        """``post`` (its variant applied) with local files referred to under ``media_host``."""
        post = post.for_channel(self.id)
        if self.media_host is None or all(m.url for m in post.media):
            return post, []
        changes: list[Change] = []
        media: list[Media] = []
        for index, item in enumerate(post.media):
            if item.url is not None:
                media.append(item)
                continue
            name = item.filename or ""
            if "." not in name or name == "upload":
                raise ContentRejected(
                    f"{self.id}.media[{index}]",
                    "the file has no name to publish it under media_host",
                    "use Media.from_path(), or Media.from_bytes(data, filename='name.jpg')",
                )
            url = self.media_host + quote(name)
            media.append(attrs.evolve(item, url=url, path=None, data=None))
            changes.append(Change(kind="media_hosted", detail=f"{name} is fetched from {url}"))
        return attrs.evolve(post, media=tuple(media), variants={}), changes

    def container_status(self, container_id: str) -> httpx.Request:
        return self.get(
            container_id, params={"fields": f"{self.status_field},{self.status_detail}"}
        )

    def wait_until_ready(self, container_id: str, ctx: Context) -> Flow[str]:
        """Poll a container until Meta has processed it; return its final status.

        The wait is a :class:`~unipost.Pause`, so the core serves other
        deliveries meanwhile. Giving up is Transient: nothing visible exists.
        """
        started = ctx.now()
        delay = 1.0
        step: httpx.Request | Pause = self.container_status(container_id)
        while True:
            response = yield step
            body = json_body(response)
            status = body.get(self.status_field)
            if status in ("FINISHED", "PUBLISHED"):
                return str(status)
            if status == "ERROR":
                detail = str(body.get(self.status_detail) or "no reason given")
                subcode = _instagram_subcode(detail)
                if subcode in _INSTAGRAM_SUBCODES:
                    error_class, meaning = _INSTAGRAM_SUBCODES[subcode]
                    raise DeliveryError.of(
                        error_class, f"{meaning}: {detail}", platform_code=subcode
                    )
                raise Permanent(f"Meta could not process the media: {detail}")
            if status == "EXPIRED":
                raise Transient(f"container {container_id} expired before it was published")
            waited = ctx.now() - started
            if waited + delay > self.poll_timeout or delay >= ctx.remaining():
                raise Transient(
                    f"the media was still processing after {waited:.0f} s "
                    f"(status {status or 'unknown'})",
                    retry_after=30.0,
                )
            step = Pause(delay, then=self.container_status(container_id))
            delay = min(delay * 2, 30.0)

    def create_container(self, params: Mapping[str, Any]) -> Flow[str]:
        """Make one container; safe to repeat, since nothing is visible before publishing."""
        response = yield (self.post(self.user_id, self.create_edge, data=params, safe=True))
        return created_id(response, f"{self.name} container", visible=False)

    def carousel(
        self, items: Sequence[Mapping[str, Any]], parent: Mapping[str, Any], ctx: Context
    ) -> Flow[str]:
        """Child containers, each waited for, then the carousel container that holds them."""
        children = []
        for item in items:
            children.append((yield from self.create_container(item)))
        for child in children:
            yield from self.wait_until_ready(child, ctx)
        return (
            yield from self.create_container(
                {**parent, "media_type": "CAROUSEL", "children": ",".join(children)}
            )
        )

    def publish_and_link(
        self, container_id: str, prepared: Prepared, ctx: Context
    ) -> Flow[Receipt]:
        """Publish a ready container and read its permalink into the receipt."""
        media_id = yield from self.publish_container(container_id, prepared, ctx)
        link = yield from self.permalink(media_id)
        return Receipt(platform_id=media_id, url=link, extra={"container_id": container_id})

    def publish_container(self, container_id: str, prepared: Prepared, ctx: Context) -> Flow[str]:
        """Publish a ready container; return the media id.

        "Not ready" answers are retried after a pause. A timeout is settled by
        the container's status: still FINISHED means it was not published and
        publishing the same container again cannot post twice; PUBLISHED means
        it went out, and the new media is found among the account's recent ones.
        """
        pause = 0.0
        for attempt in range(4):
            request = self.post(self.user_id, self.publish_edge, data={"creation_id": container_id})
            try:
                response = yield (Pause(pause, then=request) if pause else request)
            except Transient as error:
                if not error.detail.get("not_ready") or attempt == 3 or ctx.remaining() < 5:
                    raise
                pause = 2.0 * (attempt + 1)
                continue
            except Ambiguous as doubt:
                if attempt > 0:
                    raise
                status = yield from self._status_after_doubt(container_id)
                if status == "PUBLISHED":
                    found = yield from self.find_recent(prepared, ctx)
                    if isinstance(found, str):
                        return found
                    raise doubt from None
                if status != "FINISHED":
                    raise doubt from None
                pause = 0.0
                continue
            return created_id(response, f"{self.name} publish")
        raise Transient("the media did not become ready for publishing")  # pragma: no cover

    def _status_after_doubt(self, container_id: str) -> Flow[str | None]:
        try:
            response = yield (self.container_status(container_id))
        except DeliveryError:
            return None
        status = json_body(response).get(self.status_field)
        return status if isinstance(status, str) else None

    def find_recent(self, prepared: Prepared, ctx: Context) -> Flow[str | Unknown | None]:
        """The id of this account's post with ``prepared``'s text made since the first attempt."""
        since = lookup_since(ctx)
        fields = {"fields": f"id,{self.text_field},timestamp", "limit": 100}
        match = yield from search_recent(
            self.get(self.user_id, self.media_list_edge, params=fields),
            self.text_field,
            prepared.text,
            since=since,
        )
        if match is None or isinstance(match, Unknown):
            return match
        return str(match.get("id"))

    def permalink(self, media_id: str) -> Flow[str | None]:
        """The post's public URL; a failure here must not fail a delivery that happened."""
        try:
            response = yield (self.get(media_id, params={"fields": "permalink"}))
        except DeliveryError:
            return None
        link = json_body(response).get("permalink")
        return link if isinstance(link, str) else None

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """Find a post with the same text among the account's recent ones."""
        if not prepared.text.strip():
            return Unknown(f"{self.name} cannot match a post without text")
        media_id = yield from self.find_recent(prepared, ctx)
        if media_id is None:
            return Absent()
        if isinstance(media_id, Unknown):
            return media_id
        link = yield from self.permalink(media_id)
        return Found(Receipt(platform_id=media_id, url=link))
