"""Cold start, Apprise side: import and ``add()`` the 10 services of reference/apprise.md §6(a).

Run as a fresh interpreter by ``run.py``; its wall time and peak RSS are read from outside.
"""

import json
import sys

import apprise

URLS = [
    "json://127.0.0.1:9/hook",
    "tgram://123456789:AABBCCDDEEFFGGHHIIJJKKLLMMNNOOPPQQR/12345",
    "discord://1234567890/abcdefghijklmnopqrstuvwxyz",
    "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
    "mailtos://user:pass@example.com",
    "mastodon://t0k3n@social.example",
    "bsky://shop.bsky.social@abcd-efgh-ijkl-mnop",
    "whatsapp://EAAB@1234567890/15551234567",
    "twilio://AC1234567890abcdef1234567890abcd:authtoken1234567890abcdef123456@15551234567/15557654321",
    "ntfy://topic",
]
notifier = apprise.Apprise()
added = sum(bool(notifier.add(url)) for url in URLS)
print(json.dumps({"channels": added, "modules": len(sys.modules)}))
