"""unipost channels for Meta: Facebook Pages, Instagram, WhatsApp and Threads.

One distribution, because the four speak one Graph API: its version, token
handling, error codes and usage headers live once in :mod:`unipost_meta.graph`.
"""

from __future__ import annotations

from unipost_meta.facebook import FacebookChannel
from unipost_meta.instagram import InstagramChannel
from unipost_meta.threads import ThreadsChannel
from unipost_meta.whatsapp import WhatsAppChannel

__all__ = ["FacebookChannel", "InstagramChannel", "ThreadsChannel", "WhatsAppChannel"]
