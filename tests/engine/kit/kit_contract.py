"""ChannelContract for the kit's good channel and each broken one (run by a subprocess)."""

from __future__ import annotations

from typing import Any, ClassVar

import kit_channels

from unipost.testing import ChannelContract

pytest_plugins = ["unipost.testing.pytest_plugin"]

TOKEN = "kit-token-0123456789abcdef"


def _suite(kind: type[kit_channels.GoodChannel]) -> type[ChannelContract]:
    class Suite(ChannelContract):
        channel_class = kind
        settings: ClassVar[dict[str, Any]] = {"token": TOKEN}
        secrets = (TOKEN,)
        error_body: ClassVar[Any] = {"message": "refused by the kit"}

        def arrange_success(self, httpx_mock: Any) -> None:
            httpx_mock.add_response(
                method="POST",
                url=f"{kit_channels.BASE}/posts",
                json={"id": 7, "url": f"{kit_channels.BASE}/p/7"},
            )

    Suite.__name__ = Suite.__qualname__ = f"Test_{kind.__name__}"
    return Suite


for _kind in (kit_channels.GoodChannel, *kit_channels.BROKEN):
    _cls = _suite(_kind)
    globals()[_cls.__name__] = _cls
