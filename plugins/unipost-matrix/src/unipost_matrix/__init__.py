"""unipost channel for Matrix: install it and ``type = "matrix"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import hookimpl
from unipost_matrix._channel import MatrixChannel, transaction_id
from unipost_matrix._errors import classify_response

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["MatrixChannel", "classify_response", "transaction_id", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(MatrixChannel)
