"""A flow with two steps and a wait: create a media container, poll it, publish it."""

from __future__ import annotations

from typing import ClassVar

import attrs
import httpx

from unipost.plugin import (
    Capabilities,
    Channel,
    Context,
    Flow,
    Pause,
    Prepared,
    Receipt,
    Transient,
    json_object,
    secret,
)


@attrs.frozen(kw_only=True)
class ReelChannel(Channel):
    name: ClassVar[str] = "reel"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=2200,
        max_media=1,
        media_types=frozenset({"video/mp4"}),
        media_from_url_only=True,
    )

    token: str = secret()
    base_url: str = "https://api.reel.example"
    polls: int = 10

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        auth = {"Authorization": f"Bearer {self.token}"}
        video = prepared.post.media[0]
        response = yield httpx.Request(
            "POST",
            f"{self.base_url}/containers",
            json={"video_url": video.url, "caption": prepared.text},
            headers=auth,
        )
        container = json_object(response)["id"]
        status = httpx.Request("GET", f"{self.base_url}/containers/{container}", headers=auth)
        response = yield status
        for _ in range(self.polls):
            if json_object(response).get("status") == "ready":
                break
            # Wait, then ask again: the core waits, other deliveries go on meanwhile.
            response = yield Pause(5.0, then=status)
        else:
            raise Transient(f"container {container} still processing")
        publish = httpx.Request(
            "POST", f"{self.base_url}/containers/{container}/publish", headers=auth
        )
        # Publishing a container twice is harmless, so a timeout here is safe to retry.
        publish.extensions["unipost.safe"] = True
        response = yield publish
        data = json_object(response)
        return Receipt(platform_id=str(data["id"]), url=data.get("permalink"))
