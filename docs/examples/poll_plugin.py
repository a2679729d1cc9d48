"""A flow with two steps and a wait: create a media container, poll it, publish it."""

from __future__ import annotations

from typing import ClassVar

import attrs
import httpx

import unipost
from unipost.channel import Flow
from unipost.errors import Transient


@attrs.frozen(kw_only=True)
class ReelChannel(unipost.Channel):
    name: ClassVar[str] = "reel"
    capabilities: ClassVar[unipost.Capabilities] = unipost.Capabilities(
        text_limit=2200,
        max_media=1,
        media_types=frozenset({"video/mp4"}),
        media_from_url_only=True,
    )

    token: str = unipost.secret()
    base_url: str = "https://api.reel.example"
    polls: int = 10

    def publish_flow(
        self, prepared: unipost.Prepared, ctx: unipost.Context
    ) -> Flow[unipost.Receipt]:
        auth = {"Authorization": f"Bearer {self.token}"}
        video = prepared.post.media[0]
        response = yield httpx.Request(
            "POST",
            f"{self.base_url}/containers",
            json={"video_url": video.url, "caption": prepared.text},
            headers=auth,
        )
        assert response is not None
        container = response.json()["id"]
        for _ in range(self.polls):
            response = yield httpx.Request(
                "GET", f"{self.base_url}/containers/{container}", headers=auth
            )
            assert response is not None
            if response.json()["status"] == "ready":
                break
            yield unipost.Pause(5.0)  # the core waits; other deliveries go on meanwhile
        else:
            raise Transient(f"container {container} still processing")
        publish = httpx.Request(
            "POST", f"{self.base_url}/containers/{container}/publish", headers=auth
        )
        # Publishing a container twice is harmless, so a timeout here is safe to retry.
        publish.extensions["unipost.safe"] = True
        response = yield publish
        assert response is not None
        data = response.json()
        return unipost.Receipt(platform_id=data["id"], url=data["permalink"])
