"""WhatsApp Cloud API: a text, an image or an approved template, to a list of numbers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import attrs
import httpx

from unipost.plugin import (
    Ambiguous,
    AuthFailed,
    Capabilities,
    Change,
    Channel,
    ConfigurationError,
    ContentRejected,
    Context,
    DeliveryError,
    DuplicateSignal,
    Flow,
    Forbidden,
    InvalidMedia,
    Limit,
    Pause,
    Permanent,
    Post,
    Prepared,
    QuotaExhausted,
    RateLimited,
    Receipt,
    RecipientResult,
    Register,
    StatusSource,
    TextUnit,
    count,
    find_urls,
    hookimpl,
    json_body,
    mask_phone,
    truncate,
)
from unipost_meta.graph import GraphChannel, created_id, numeric_id
from unipost_meta.graph_errors import PAIR_RATE_WAIT
from unipost_meta.status import number_health, status_sources

__all__ = ["Template", "WhatsAppChannel", "unipost_register_channels"]

CAPTION_LIMIT = 1024
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_SEPARATORS = re.compile(r"[\s().\-]")
_PLACEHOLDERS = ("text", "link", "title")


def _numbers(value: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(number) for number in value)


def _masked(numbers: tuple[str, ...]) -> str:
    return repr(tuple(mask_phone(n) for n in numbers))


@attrs.frozen(kw_only=True)
class Template:
    """An approved message template: name, language and body parameters.

    A parameter may hold ``{text}``, ``{link}`` or ``{title}``, filled from
    the post, so one approved template ("New offer: {{1}} {{2}}") carries
    every post.
    """

    name: str
    language: str
    parameters: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, field: str, settings: Mapping[str, Any]) -> Template:
        known = {"name", "language", "parameters"}
        for key in settings:
            if key not in known:
                raise ConfigurationError(
                    f"{field}.{key}", "unknown template setting", "use name, language, parameters"
                )
        for key in ("name", "language"):
            if not isinstance(settings.get(key), str) or not settings[key]:
                raise ConfigurationError(
                    f"{field}.{key}",
                    "is required",
                    'e.g. template = { name = "offer", language = "en_US" }',
                )
        parameters = settings.get("parameters", ())
        if isinstance(parameters, str) or not all(isinstance(p, str) for p in parameters):
            raise ConfigurationError(
                f"{field}.parameters", "must be a list of strings", 'e.g. ["{text}", "{link}"]'
            )
        return cls(
            name=settings["name"], language=settings["language"], parameters=tuple(parameters)
        )

    def render(self, post: Post) -> list[str]:
        """The body parameters for ``post``: WhatsApp refuses newlines, tabs and long space runs."""
        values = {"text": post.text or "", "link": post.link or "", "title": post.title or ""}
        rendered = []
        for parameter in self.parameters:
            for key in _PLACEHOLDERS:
                parameter = parameter.replace("{" + key + "}", values[key])
            rendered.append(re.sub(r" {4,}", "   ", re.sub(r"[\n\t]+", " ", parameter)).strip())
        return rendered


@attrs.frozen(kw_only=True)
class WhatsAppChannel(GraphChannel):
    """A WhatsApp business number sending to the numbers in ``to``.

    Free-form messages reach only customers who wrote in the last 24 hours;
    set ``template`` to reach everyone else. Each recipient gets its own
    message and its own :class:`~unipost.RecipientResult`; numbers appear
    masked everywhere (``+49*******5678``).
    """

    name: ClassVar[str] = "whatsapp"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=4096,
        text_unit=TextUnit.CHARACTERS,
        max_media=1,
        media_types=frozenset({"image/jpeg", "image/png"}),
        max_media_bytes=5 * 1024 * 1024,
        link_cards=True,
        limits=(Limit(rate=80, per=1.0, name="throughput"),),
        health_check=True,
    )
    permissions: ClassVar[tuple[str, ...]] = ("whatsapp_business_messaging",)

    phone_number_id: str = attrs.field(converter=str, validator=numeric_id)
    to: tuple[str, ...] = attrs.field(converter=_numbers, repr=_masked)
    template: Template | Mapping[str, Any] | None = None

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        field = f"channels.{self.id}"
        if not self.to:
            raise ConfigurationError(f"{field}.to", "no recipients", 'add to = ["+4915112345678"]')
        numbers = []
        for index, raw in enumerate(self.to):
            number = _SEPARATORS.sub("", raw)
            if not _E164.fullmatch(number):
                raise ConfigurationError(
                    f"{field}.to[{index}]",
                    f"{mask_phone(raw)} is not an E.164 number",
                    "write + country code and number, e.g. +4915112345678",
                )
            numbers.append(number)
        object.__setattr__(self, "to", tuple(numbers))
        if isinstance(self.template, Mapping):
            object.__setattr__(
                self, "template", Template.from_settings(f"{field}.template", self.template)
            )

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        """Templates carry their parameters; a free-form image carries a 1,024-character caption."""
        prepared = super().prepare(post)
        post = prepared.post
        changes = list(prepared.changes)
        if isinstance(self.template, Template):
            parameters = self.template.render(post)
            for index, value in enumerate(parameters):
                if not value:
                    raise ContentRejected(
                        f"{self.id}.template.parameters[{index}]",
                        "is empty for this post",
                        "give the post the text, link or title the parameter uses",
                    )
            changes.append(
                Change(kind="template", detail=f"sent as template {self.template.name!r}")
            )
            if post.media:
                changes.append(
                    Change(
                        kind="media_dropped", detail="template messages are sent without the image"
                    )
                )
            return attrs.evolve(
                prepared,
                changes=tuple(changes),
                payload={"kind": "template", "parameters": parameters},
            )
        if not post.media:
            preview = bool(find_urls(prepared.text))
            return attrs.evolve(prepared, payload={"kind": "text", "preview_url": preview})
        caption = prepared.text
        if count(caption, self.capabilities.text_unit) > CAPTION_LIMIT:
            body, _ = self.compose(post)
            suffix = self.link_suffix(post, body)
            caption = truncate(body, CAPTION_LIMIT, self.capabilities.text_unit, suffix=suffix)
            changes.append(
                Change(
                    kind="truncated",
                    detail=f"image caption shortened to {CAPTION_LIMIT} characters",
                )
            )
        return attrs.evolve(
            prepared, parts=(caption,), changes=tuple(changes), payload={"kind": "image"}
        )

    # -- delivery --------------------------------------------------------

    def _content(self, prepared: Prepared) -> Flow[dict[str, Any]]:
        """The message every recipient gets; a local image is uploaded once (safe to repeat)."""
        kind = prepared.payload.get("kind")
        if kind == "template" and isinstance(self.template, Template):
            template: dict[str, Any] = {
                "name": self.template.name,
                "language": {"code": self.template.language},
            }
            parameters = prepared.payload.get("parameters") or []
            if parameters:
                template["components"] = [
                    {
                        "type": "body",
                        "parameters": [{"type": "text", "text": p} for p in parameters],
                    }
                ]
            return {"type": "template", "template": template}
        if kind != "image":
            body = {"body": prepared.text, "preview_url": bool(prepared.payload.get("preview_url"))}
            return {"type": "text", "text": body}
        media = prepared.post.media[0]
        image: dict[str, Any]
        if media.url is not None:
            image = {"link": media.url}
        else:
            try:
                content = media.read()
            except InvalidMedia as exc:
                raise Permanent(f"the image can no longer be read: {exc.problem}") from exc
            upload = self.post(
                self.phone_number_id,
                "media",
                data={"messaging_product": "whatsapp", "type": media.mime_type},
                files={"file": (media.filename or "image", content, media.mime_type)},
                safe=True,
            )
            response = yield (upload)
            image = {"id": created_id(response, "WhatsApp media upload", visible=False)}
        if prepared.text:
            image["caption"] = prepared.text
        return {"type": "image", "image": image}

    def _request(self, number: str, content: Mapping[str, Any]) -> httpx.Request:
        message = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": number.lstrip("+"),
        }
        return self.post(self.phone_number_id, "messages", json_body={**message, **content})

    def _send(
        self, number: str, content: Mapping[str, Any], ctx: Context, *, may_wait: bool
    ) -> Flow[str]:
        """Send to one number; return the message id.

        Once others already have the message, a rate limit is waited out here:
        failing the delivery then would make its retry message them twice.
        """
        try:
            response = yield (self._request(number, content))
        except RateLimited as error:
            wait = error.retry_after or PAIR_RATE_WAIT
            if not may_wait or wait >= ctx.remaining():
                raise
            response = yield Pause(wait, then=self._request(number, content))
        messages = json_body(response).get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], Mapping):
            message_id = messages[0].get("id")
            if isinstance(message_id, str) and message_id:
                return message_id
        raise Ambiguous("WhatsApp answered without a message id (the message may have been sent)")

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """One message per recipient, each with its own result.

        Before anyone has the message, a failure that is not about one number
        fails the delivery (a retry is then harmless). After that, failures
        are recorded per recipient and never resent, so nobody gets it twice.
        """
        content = yield from self._content(prepared)
        results: list[RecipientResult] = []
        failures: list[DeliveryError] = []
        started = False  # somebody has (or may have) the message
        stop: DeliveryError | None = None
        for number in self.to:
            masked = mask_phone(number)
            if stop is not None:
                results.append(
                    RecipientResult(recipient=masked, ok=False, reason=f"not sent: {stop}")
                )
                continue
            try:
                message_id = yield from self._send(number, content, ctx, may_wait=started)
            except Ambiguous as error:
                started = True
                failures.append(error)
                reason = f"may have been delivered, not resent: {error}"
                results.append(RecipientResult(recipient=masked, ok=False, reason=reason))
                continue
            except DeliveryError as error:
                if not started and not isinstance(error, Permanent | DuplicateSignal):
                    raise
                failures.append(error)
                results.append(RecipientResult(recipient=masked, ok=False, reason=str(error)))
                if isinstance(error, AuthFailed | Forbidden | QuotaExhausted | RateLimited):
                    stop = error
                continue
            started = True
            results.append(RecipientResult(recipient=masked, ok=True, platform_id=message_id))
        delivered = [r for r in results if r.ok]
        if not delivered:
            raise _all_failed(failures, results)
        first = delivered[0].platform_id or ""
        extra = {"delivered": len(delivered), "failed": len(results) - len(delivered)}
        return Receipt(platform_id=first, url=None, recipients=tuple(results), extra=extra)

    def identity_request(self) -> httpx.Request:
        return self.get(
            self.phone_number_id, params={"fields": "display_phone_number,verified_name"}
        )

    def describe_identity(self, body: Mapping[str, Any]) -> str:
        shown = body.get("display_phone_number")
        number = mask_phone(shown) if isinstance(shown, str) else self.phone_number_id
        return f"WhatsApp {body.get('verified_name') or 'number'} ({number})"


def _all_failed(failures: list[DeliveryError], results: list[RecipientResult]) -> DeliveryError:
    """One error for a delivery nobody received: the only one, or a summary of each."""
    if len(failures) == 1 and len(results) == 1:
        return failures[0]
    summary = "; ".join(f"{r.recipient}: {r.reason}" for r in results)
    first = failures[0]
    if any(isinstance(f, Ambiguous) for f in failures):
        return Ambiguous(f"no recipient confirmed: {summary}")
    return DeliveryError.of(
        first.error_class,
        f"all {len(results)} recipients failed: {summary}",
        status=first.status,
        platform_code=first.platform_code,
        retry_after=first.retry_after,
    )


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(WhatsAppChannel)


@hookimpl
def unipost_status_sources(channel: Channel) -> list[StatusSource] | None:
    """Meta's status page for the Graph API and WhatsApp, and this number's standing."""
    if not isinstance(channel, WhatsAppChannel):
        return None
    return [
        *status_sources(channel, "whatsapp-business-api"),
        number_health(channel, channel.phone_number_id),
    ]
