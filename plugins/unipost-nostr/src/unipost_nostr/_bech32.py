"""NIP-19 bech32 entities (``nsec``, ``npub``, ``note``): BIP-173 encoding of 32 bytes."""

from __future__ import annotations

__all__ = ["decode", "encode"]

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_GENERATOR):
            if (top >> bit) & 1:
                check ^= generator
    return check


def _expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _regroup(data: bytes | list[int], source: int, target: int, *, pad: bool) -> list[int]:
    accumulator, bits, out = 0, 0, []
    mask = (1 << target) - 1
    for value in data:
        accumulator = (accumulator << source) | value
        bits += source
        while bits >= target:
            bits -= target
            out.append((accumulator >> bits) & mask)
    if pad and bits:
        out.append((accumulator << (target - bits)) & mask)
    elif not pad and (bits >= source or (accumulator << (target - bits)) & mask):
        raise ValueError("bech32: invalid padding")
    return out


def encode(hrp: str, data: bytes) -> str:
    """``hrp1…`` for ``data`` (NIP-19 uses plain bech32, not bech32m)."""
    words = _regroup(data, 8, 5, pad=True)
    polymod = _polymod([*_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[w] for w in words + checksum)


def decode(hrp: str, value: str) -> bytes:
    """The bytes of a ``hrp1…`` string; ValueError when the prefix or checksum is wrong."""
    value = value.strip().lower()
    prefix, sep, rest = value.rpartition("1")
    if not sep or prefix != hrp or len(rest) < 6:
        raise ValueError(f"not a {hrp}1… value")
    try:
        words = [_CHARSET.index(c) for c in rest]
    except ValueError:
        raise ValueError(f"{hrp}: invalid character") from None
    if _polymod([*_expand(hrp), *words]) != 1:
        raise ValueError(f"{hrp}: bad checksum (mistyped or truncated)")
    return bytes(_regroup(words[:-6], 5, 8, pad=False))
