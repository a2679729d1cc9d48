"""Post and Media: validation that names the field, type sniffing by content, round trips."""

from __future__ import annotations

import datetime as dt
import json
import struct
import zlib
from pathlib import Path

import pytest

from unipost import Media, Post, Variant
from unipost.channels.site import SiteChannel
from unipost.errors import InvalidMedia, InvalidPost, UsageError


def png(width: int, height: int) -> bytes:
    """A real PNG (one grey pixel row per line), built from the spec, not from unipost."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def gif(width: int, height: int) -> bytes:
    """GIF89a logical screen descriptor, little-endian width and height."""
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b";"


def jpeg(width: int, height: int) -> bytes:
    """SOI, an APP0 (JFIF) segment before the frame, then SOF0 with the size (big-endian)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


# -- Post validation names the field --------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text": "hi", "link": "bakery.example/offer"}, "link"),
        ({"text": "hi", "link": "ftp://bakery.example/offer"}, "link"),
        ({"text": "hi", "publish_at": dt.datetime(2026, 12, 24, 9, 0)}, "publish_at"),
        ({"text": "hi", "tags": ["fresh bread"]}, "tags"),
        ({"text": "hi", "tags": ["#"]}, "tags"),
        ({"text": "hi", "language": "English"}, "language"),
        ({"text": "hi", "language": "en_US"}, "language"),
        ({"text": "hi", "language": "e"}, "language"),
        ({"text": "hi", "revision": 0}, "revision"),
        ({"text": "hi", "id": ""}, "id"),
        ({"text": "hi", "ttl": dt.timedelta(0)}, "ttl"),
        ({"text": "hi", "media": ["photo.jpg"]}, "media[0]"),
        ({"text": "   "}, "post"),
        ({}, "post"),
    ],
)
def test_bad_post_fields_are_named_with_a_fix(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidPost) as caught:
        Post(**kwargs)  # type: ignore[arg-type]
    error = caught.value
    assert error.field == field
    assert error.fix, "every usage error says how to fix it"
    assert str(error).startswith(f"{field}: ")
    assert isinstance(error, UsageError)
    assert isinstance(error, ValueError), "callers catching ValueError catch it too"


def test_good_values_are_accepted_and_normalised() -> None:
    post = Post(
        text="  Fresh bread\r\nall day  ",
        link="https://bakery.example/offer",
        tags=["#bread", "pastries"],
        language="de-AT",
        publish_at=dt.datetime(2026, 12, 24, 9, 0, tzinfo=dt.UTC),
        revision=2,
    )
    assert post.text == "Fresh bread\nall day"
    assert post.tags == ("bread", "pastries")
    assert Post(text="hi", tags="solo").tags == ("solo",)
    assert Post(text="hi", language="zh-Hant-TW").language == "zh-Hant-TW"


def test_a_post_may_be_only_a_link_or_only_media(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png(2, 2))
    assert Post(link="https://bakery.example").text is None
    assert len(Post(media=Media.from_path(tmp_path / "a.png")).media) == 1


def test_a_variant_with_a_bad_link_or_key_is_named() -> None:
    with pytest.raises(InvalidPost) as caught:
        Post(text="hi", variants={"x": {"txt": "short"}})
    assert caught.value.field == "variants['x']"
    with pytest.raises(InvalidPost) as bad_link:
        Post(text="hi", variants={"x": {"link": "nope"}})
    assert bad_link.value.field == "link"


# -- Media: the content decides the type ---------------------------------------------


def test_a_png_named_txt_is_a_png(tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_bytes(png(3, 2))
    media = Media.from_path(file, alt="a grey square")
    assert media.mime_type == "image/png"
    assert (media.width, media.height) == (3, 2)
    assert media.size == file.stat().st_size
    assert media.filename == "notes.txt"
    assert media.is_image
    assert not media.is_video
    assert media.read() == file.read_bytes()


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"this is just text, not a picture\n", "unknown content"),
        (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", "application/pdf"),
    ],
)
def test_a_non_image_named_png_is_rejected(tmp_path: Path, content: bytes, found: str) -> None:
    file = tmp_path / "photo.png"
    file.write_bytes(content)
    with pytest.raises(InvalidMedia) as caught:
        Media.from_path(file)
    assert caught.value.field == "media"
    assert found in caught.value.problem
    assert "JPEG, PNG" in caught.value.fix


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidMedia) as caught:
        Media.from_path(tmp_path / "gone.jpg")
    assert "gone.jpg" in caught.value.problem
    assert "not found" in caught.value.problem


@pytest.mark.parametrize(
    ("data", "mime", "size"),
    [
        (png(640, 480), "image/png", (640, 480)),
        (jpeg(1200, 800), "image/jpeg", (1200, 800)),
        (gif(17, 9), "image/gif", (17, 9)),
    ],
)
def test_width_and_height_come_from_the_header(
    tmp_path: Path, data: bytes, mime: str, size: tuple[int, int]
) -> None:
    from_bytes = Media.from_bytes(data, filename="upload.bin")
    assert from_bytes.mime_type == mime
    assert (from_bytes.width, from_bytes.height) == size
    assert from_bytes.size == len(data)
    assert from_bytes.read() == data
    file = tmp_path / "upload.bin"
    file.write_bytes(data)
    from_path = Media.from_path(file)
    assert (from_path.mime_type, from_path.width, from_path.height) == (mime, *size)


def test_from_bytes_rejects_what_is_not_media() -> None:
    with pytest.raises(InvalidMedia) as caught:
        Media.from_bytes(b"<html>not an image</html>", filename="x.jpg")
    assert "x.jpg" in caught.value.problem


def test_from_url_needs_a_type_it_can_tell() -> None:
    with pytest.raises(InvalidMedia) as caught:
        Media.from_url("https://cdn.bakery.example/media/8812")
    assert "mime_type=" in caught.value.fix
    given = Media.from_url("https://cdn.bakery.example/media/8812", mime_type="image/jpeg")
    assert (given.mime_type, given.filename, given.path) == ("image/jpeg", "8812", None)
    guessed = Media.from_url("https://cdn.bakery.example/img/bread.webp?v=2")
    assert (guessed.mime_type, guessed.filename) == ("image/webp", "bread.webp")
    with pytest.raises(InvalidMedia):
        Media.from_url("https://cdn.bakery.example/menu.pdf")
    with pytest.raises(InvalidMedia):
        Media.from_url("cdn.bakery.example/bread.jpg")


# -- variants, hashing, round trips -----------------------------------------------------


def test_variants_apply_to_the_channel_id_not_the_type() -> None:
    post = Post(
        text="Long text for every channel that has room for it.",
        link="https://bakery.example/offer",
        variants={"blog": Variant(text="Blog version", title="Today at the bakery")},
    )
    assert post.for_channel("blog").text == "Blog version"
    assert post.for_channel("blog").link == "https://bakery.example/offer", "unset fields stay"
    assert post.for_channel("site") is post
    blog = SiteChannel(id="blog", directory="unused").prepare(post)
    site = SiteChannel(id="site", directory="unused").prepare(post)
    assert blog.text.startswith("Blog version")
    assert blog.post.title == "Today at the bakery"
    assert site.text.startswith("Long text")


def test_content_hash_is_stable_and_sensitive_to_content(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(png(2, 2))
    base = {"text": "Open 9-5", "tags": ["bread"], "media": [Media.from_path(image)]}
    first = Post(**base, id="one")  # type: ignore[arg-type]
    assert first.content_hash() == Post(**base, id="two").content_hash(), "ids are not content"
    assert first.content_hash() == first.content_hash()
    later = Post(**base, publish_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))  # type: ignore[arg-type]
    assert later.content_hash() == first.content_hash(), "timing is not content"
    changed = [
        Post(**{**base, "text": "Open 9-6"}),  # type: ignore[arg-type]
        Post(**{**base, "tags": ["cake"]}),  # type: ignore[arg-type]
        Post(**base, link="https://bakery.example"),  # type: ignore[arg-type]
        Post(**base, language="de"),  # type: ignore[arg-type]
        Post(**base, variants={"x": Variant(text="short")}),  # type: ignore[arg-type]
    ]
    hashes = {first.content_hash(), *(p.content_hash() for p in changed)}
    assert len(hashes) == 1 + len(changed)
    other = tmp_path / "b.png"
    other.write_bytes(png(2, 3))
    for media in (Media.from_path(other), Media.from_path(image, alt="a loaf")):
        assert Post(**{**base, "media": [media]}).content_hash() != first.content_hash()  # type: ignore[arg-type]


def test_to_dict_from_dict_round_trip(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(png(4, 4))
    post = Post(
        text="Open 9-5",
        title="Today",
        link="https://bakery.example/offer",
        media=[
            Media.from_path(image, alt="bread", focus=(0.5, -0.25)),
            Media.from_url("https://cdn.bakery.example/b.jpg", alt="more"),
        ],
        tags=["bread"],
        language="en-GB",
        variants={
            "x": Variant(text="short", tags=("a",)),
            "email": Variant(link="https://bakery.example/mail", media=()),
        },
        id="offer-2026-12-01",
        revision=3,
        publish_at=dt.datetime(2026, 12, 1, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        ttl=dt.timedelta(hours=6),
        metadata={"campaign": "winter"},
    )
    data = json.loads(json.dumps(post.to_dict()))
    again = Post.from_dict(data)
    assert again == post
    assert again.content_hash() == post.content_hash()
    assert Post.from_dict({"id": "minimal", "text": "hi"}) == Post(id="minimal", text="hi")
