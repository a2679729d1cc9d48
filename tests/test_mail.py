"""A post as a newsletter e-mail (unipost.mail), shared by the mailing-service channels."""

from __future__ import annotations

from unipost import Media, Post
from unipost.mail import SUBJECT_LENGTH, render_email


def test_title_is_the_subject_and_the_link_a_button() -> None:
    post = Post(
        title="Croissant day",
        text="All pastries 20% off.\n\nSee you!",
        link="https://bakery.example/offer?a=1&b=2",
        media=[Media.from_url("https://cdn.bakery.example/c.jpg", alt="Croissants <3")],
        language="en",
    )
    content, changes = render_email(post, post.text or "", button="See the offer")
    assert content.subject == "Croissant day"
    assert '<html lang="en">' in content.html
    assert '<img src="https://cdn.bakery.example/c.jpg" alt="Croissants &lt;3"' in content.html
    assert 'href="https://bakery.example/offer?a=1&amp;b=2"' in content.html
    assert ">See the offer</a>" in content.html
    assert "See the offer: https://bakery.example/offer?a=1&b=2" in content.text
    assert content.text.startswith("Croissant day\n\nAll pastries 20% off.")
    assert [c.kind for c in changes] == ["images", "link_button", "plain_text"]


def test_subject_from_the_first_line_when_there_is_no_title() -> None:
    body = "  Open late   tonight!\nUntil 10pm." + " more" * 100
    content, changes = render_email(Post(text=body), body)
    assert content.subject == "Open late tonight!"
    assert changes[0].kind == "subject"
    long = "word " * 100
    content, _ = render_email(Post(text=long), long)
    assert len(content.subject) <= SUBJECT_LENGTH
    assert content.subject.endswith("…")


def test_footer_is_the_services_own_unsubscribe_tag() -> None:
    content, _ = render_email(
        Post(text="<b>hi</b>"), "<b>hi</b>", footer_html="<a href='*|UNSUB|*'>Unsubscribe</a>"
    )
    assert "&lt;b&gt;hi&lt;/b&gt;" in content.html  # user text is escaped
    assert "<a href='*|UNSUB|*'>Unsubscribe</a>" in content.html  # the tag is kept as given
