"""Cold start, unipost side: import, discover plugins, configure 10 channels, build the dispatcher.

Run as a fresh interpreter by ``run.py``; its wall time and peak RSS are read from outside.
"""

import json
import os
import sys
import tempfile

import unipost
from unipost.config import parse_config

folder = tempfile.mkdtemp(prefix="unipost-cold-")
KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
config = parse_config(
    {
        "allow_inline_secrets": True,
        "outbox": {"path": os.path.join(folder, "outbox.sqlite3")},
        "channels": {
            "hook": {"type": "webhook", "url": "https://hooks.example.com/a", "secret": KEY},
            "hook2": {"type": "webhook", "url": "https://hooks.example.com/b", "secret": KEY},
            "site": {"type": "site", "directory": folder},
            "news": {
                "type": "email",
                "host": "smtp.example.com",
                "from_addr": "news@example.com",
                "username": "shop",
                "password": "app-password",
                "to": ["reader@example.com"],
            },
            "mastodon": {
                "type": "mastodon",
                "instance": "https://social.example",
                "token": "t0k3n",
            },
            "bluesky": {
                "type": "bluesky",
                "handle": "shop.bsky.social",
                "app_password": "abcd-efgh-ijkl-mnop",
            },
            "facebook": {"type": "facebook", "page_id": "1234567890", "token": "EAAB"},
            "instagram": {"type": "instagram", "ig_user_id": "1784140", "token": "EAAB"},
            "threads": {"type": "threads", "token": "THAA"},
            "whatsapp": {
                "type": "whatsapp",
                "phone_number_id": "1234567890",
                "token": "EAAB",
                "to": ["+4915112345678"],
            },
        },
    }
)
dispatcher = unipost.build_dispatcher(config)
print(json.dumps({"channels": len(dispatcher.channels), "modules": len(sys.modules)}))
dispatcher.close()
