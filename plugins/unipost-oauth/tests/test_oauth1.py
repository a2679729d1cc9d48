"""OAuth 1.0a signatures (made by oauthlib) against the published examples.

* RFC 5849 §1.2: the photos.example.net GET, signature ``MdpQcU8iPSUjWoN/UDMsK2sui9I=``
  (the RFC's example sends no ``oauth_version``, which oauthlib's client always adds, so it is
  checked at oauthlib's signature level), and the same request in OAuth Core 1.0 Appendix A
  (with ``oauth_version=1.0``), signature ``tR3+Ty81lMeYAr/Fid0kMTYa/WM=``, through ``sign()``.
* RFC 5849 §3.4.1.1: the signature base string of the example.com POST, printed in the RFC.
* X's "Creating a signature" page (developer.x.com, OAuth 1.0a): the statuses/update POST,
  signature ``hCtSmYh+iHYCEqBWrE7C7hYmtUk=``.
"""

from __future__ import annotations

import urllib.parse

import httpx
from oauthlib.oauth1 import Client
from oauthlib.oauth1.rfc5849 import signature
from unipost_oauth import OAuth1Credentials, sign


def params(header: str) -> dict[str, str]:
    assert header.startswith("OAuth ")
    pairs = (item.strip().split("=", 1) for item in header[len("OAuth ") :].split(","))
    return {key: urllib.parse.unquote(value.strip('"')) for key, value in pairs}


PHOTOS = OAuth1Credentials(
    consumer_key="dpf43f3p2l4k3l03",
    consumer_secret="kd94hf93k423kf44",
    token="nnch734d00sl2jdk",
    token_secret="pfkkdhi9sl3r4s00",
)
PHOTOS_URL = "http://photos.example.net/photos?file=vacation.jpg&size=original"


def test_rfc5849_section_1_2_example() -> None:
    oauth = [
        ("oauth_consumer_key", PHOTOS.consumer_key),
        ("oauth_token", PHOTOS.token),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131202"),
        ("oauth_nonce", "chapoH"),
    ]
    query = signature.collect_parameters(uri_query="file=vacation.jpg&size=original")
    base = signature.signature_base_string(
        "GET", signature.base_string_uri(PHOTOS_URL), signature.normalize_parameters(query + oauth)
    )
    client = Client(
        PHOTOS.consumer_key,
        client_secret=PHOTOS.consumer_secret,
        resource_owner_secret=PHOTOS.token_secret,
    )
    digest = signature.sign_hmac_sha1_with_client(base, client)
    assert digest == "MdpQcU8iPSUjWoN/UDMsK2sui9I="


def test_oauth_core_1_0_appendix_a_through_sign() -> None:
    request = httpx.Request("GET", PHOTOS_URL)
    signed = sign(request, PHOTOS, nonce="kllo9940pd9333jh", timestamp="1191242096", realm="Photos")
    got = params(signed.headers["Authorization"])
    assert got["oauth_signature"] == "tR3+Ty81lMeYAr/Fid0kMTYa/WM="
    assert got["oauth_signature_method"] == "HMAC-SHA1"
    assert got["oauth_version"] == "1.0"
    assert got["realm"] == "Photos"


def test_rfc5849_section_3_4_1_base_string() -> None:
    """The base string oauthlib builds is the RFC's, byte for byte (form body included)."""
    uri = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b"
    oauth = [
        ("oauth_consumer_key", "9djdj82h48djs9d2"),
        ("oauth_token", "kkk9d7dh3k39sjv7"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131201"),
        ("oauth_nonce", "7d8f3e4a"),
    ]
    query = signature.collect_parameters(uri_query=urllib.parse.urlparse(uri).query)
    body = signature.collect_parameters(body=[("c2", ""), ("a3", "2 q")])
    normalized = signature.normalize_parameters(query + body + oauth)
    base = signature.signature_base_string("POST", signature.base_string_uri(uri), normalized)
    assert base == (
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q"
        "%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_"
        "key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m"
        "ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk"
        "9d7dh3k39sjv7"
    )


def test_x_documented_example_signs_a_form_body() -> None:
    credentials = OAuth1Credentials(
        consumer_key="xvz1evFS4wEEPTGEFPHBog",
        consumer_secret="kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
        token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        token_secret="LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
    )
    request = httpx.Request(
        "POST",
        "https://api.twitter.com/1.1/statuses/update.json?include_entities=true",
        data={"status": "Hello Ladies + Gentlemen, a signed OAuth request!"},
    )
    signed = sign(
        request,
        credentials,
        nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
        timestamp="1318622958",
    )
    assert params(signed.headers["Authorization"])["oauth_signature"] == (
        "hCtSmYh+iHYCEqBWrE7C7hYmtUk="
    )
    assert signed.content == request.content  # the body is sent as it was


def test_a_json_body_is_sent_unchanged_and_signed_over_the_url() -> None:
    credentials = OAuth1Credentials(
        consumer_key="ck", consumer_secret="cs", token="t", token_secret="ts"
    )
    request = httpx.Request("POST", "https://api.x.com/2/tweets", json={"text": "hi"})
    signed = sign(request, credentials, nonce="n", timestamp="1")
    other = sign(
        httpx.Request("POST", "https://api.x.com/2/tweets", json={"text": "other"}),
        credentials,
        nonce="n",
        timestamp="1",
    )
    assert signed.content == b'{"text":"hi"}'
    assert signed.headers["content-type"] == "application/json"
    assert signed.headers["Authorization"] == other.headers["Authorization"]
