"""The safe image download, against an image host on loopback serving good and hostile responses."""

import io

import pytest
from PIL import Image

from crawling import fetching, services
from crawling.fetching import FetchRefused, fetch_url
from crawling.models import Media, Post
from tests.crawling.fakes import HTML_PAGE, Reply, encode, jpeg_with_gps, picture, png_bomb, rotated_jpeg


def make_media(crisis, url: str, *, source_id: str = "1") -> Media:
    post = Post.objects.create(crisis=crisis, source=Post.Source.MASTODON, source_id=source_id)
    return Media.objects.create(crisis=crisis, post=post, remote_url=url)


def fetch(crisis, url: str) -> Media:
    media = make_media(crisis, url)
    services.media_fetch(media_id=media.pk)
    media.refresh_from_db()
    return media


class TestAddressChecks:
    def test_loopback_is_refused_by_default(self, server, settings):
        settings.ALLOW_LOOPBACK_FETCH = False
        server.route("/a.jpg", Reply.image(encode(picture())))
        with pytest.raises(FetchRefused) as refusal:
            fetch_url(server.url("/a.jpg"))
        assert refusal.value.code == "blocked_address"
        assert server.requests == []  # refused before connecting

    @pytest.mark.parametrize(
        "address",
        [
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",  # noqa: S104 (an address to refuse, not to bind)
            "::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "224.0.0.1",
        ],
    )
    def test_private_link_local_and_metadata_addresses_are_refused(self, address, settings):
        settings.ALLOW_LOOPBACK_FETCH = True  # even then, only loopback opens up
        allowed = fetching.address_allowed(fetching.ipaddress.ip_address(address))
        assert allowed is (address in ("::1", "::ffff:127.0.0.1"))

    def test_public_addresses_are_allowed(self):
        assert fetching.address_allowed(fetching.ipaddress.ip_address("93.184.215.14"))

    @pytest.mark.parametrize(
        ("address", "why"),
        [
            ("64:ff9b::a00:1", "NAT64 well-known prefix carrying 10.0.0.1"),
            ("64:ff9b::a9fe:a9fe", "NAT64 carrying the metadata service 169.254.169.254"),
            ("64:ff9b::7f00:1", "NAT64 carrying loopback"),
            ("64:ff9b:1::5db8:d70e", "local-use NAT64, even carrying a public address"),
            ("64:ff9b:1:ffff::a00:1", "local-use NAT64 carrying 10.0.0.1"),
            ("2002:a00:1::1", "6to4 carrying 10.0.0.1"),
            ("2002:a9fe:a9fe::1", "6to4 carrying the metadata service"),
            ("2002:5db8:d70e::1", "6to4 carrying a public address: deprecated tunnel"),
            ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo"),
            ("2001::1", "Teredo server range"),
            ("::a00:1", "IPv4-compatible 10.0.0.1"),
            ("::5db8:d70e", "IPv4-compatible public address: deprecated form"),
            ("::ffff:a00:1", "IPv4-mapped 10.0.0.1"),
            ("::ffff:c0a8:101", "IPv4-mapped 192.168.1.1"),
            ("fec0::1", "site-local"),
            ("feff::1", "site-local, top of the range"),
            ("fe80::1", "link-local"),
            ("fc00::1", "unique local"),
            ("::", "unspecified"),
            ("2001:db8::1", "documentation"),
            ("100::1", "discard-only"),
            ("ff0e::1", "global multicast"),
            ("192.88.99.1", "6to4 relay anycast"),
            ("255.255.255.255", "broadcast"),
            ("198.18.0.1", "benchmarking"),
            ("240.0.0.1", "reserved"),
            ("192.0.2.1", "documentation"),
        ],
    )
    def test_every_address_that_is_not_global_unicast_is_refused(self, address, why, settings):
        settings.ALLOW_LOOPBACK_FETCH = False
        assert not fetching.address_allowed(fetching.ipaddress.ip_address(address)), why

    @pytest.mark.parametrize(
        "address",
        ["93.184.215.14", "2606:4700::1111", "64:ff9b::5db8:d70e", "::ffff:5db8:d70e", "2620:4f:8000::1"],
    )
    def test_global_unicast_addresses_pass_even_through_nat64_or_mapping(self, address, settings):
        settings.ALLOW_LOOPBACK_FETCH = False
        assert fetching.address_allowed(fetching.ipaddress.ip_address(address))

    def test_a_host_resolving_to_an_embedded_private_address_is_refused_before_connecting(self, monkeypatch):
        monkeypatch.setattr(fetching, "_resolve", lambda host, port: ["2002:a9fe:a9fe::1"])
        with pytest.raises(FetchRefused) as refusal:
            fetch_url("http://tunnel.example/a.jpg")
        assert refusal.value.code == "blocked_address"

    @pytest.mark.parametrize(
        "url", ["file:///etc/passwd", "ftp://example.org/a.jpg", "gopher://x/", "http://", "data:,x"]
    )
    def test_only_http_and_https_urls_are_fetched(self, url):
        with pytest.raises(FetchRefused) as refusal:
            fetch_url(url)
        assert refusal.value.code in ("bad_scheme", "bad_url")

    def test_credentials_in_the_url_are_refused(self):
        with pytest.raises(FetchRefused, match="credentials"):
            fetch_url("http://user:secret@example.org/a.jpg")

    def test_a_host_with_any_private_address_is_refused(self, monkeypatch):
        monkeypatch.setattr(fetching, "_resolve", lambda host, port: ["93.184.215.14", "10.1.2.3"])
        with pytest.raises(FetchRefused) as refusal:
            fetch_url("http://mixed.example/a.jpg")
        assert refusal.value.code == "blocked_address"


class TestRedirects:
    def test_redirect_to_the_metadata_address_is_refused(self, server, loopback):
        server.route("/r", Reply.redirect("http://169.254.169.254/latest/meta-data/"))
        with pytest.raises(FetchRefused) as refusal:
            fetch_url(server.url("/r"))
        assert refusal.value.code == "blocked_address"
        assert "169.254.169.254" in refusal.value.reason

    def test_redirect_from_a_public_host_to_loopback_is_refused(self, server, monkeypatch, settings):
        """The public host is simulated: its checked address is routed to our loopback server, as a NAT would.
        The address check itself is untouched, and loopback stays forbidden."""
        settings.ALLOW_LOOPBACK_FETCH = False
        public = "93.184.215.14"
        monkeypatch.setattr(
            fetching, "_resolve", lambda host, port: [public] if host == "images.example" else ["127.0.0.1"]
        )
        monkeypatch.setattr(fetching, "_dial_address", lambda ip: "127.0.0.1" if ip == public else ip)
        server.route("/r", Reply.redirect(server.url("/secret")))
        with pytest.raises(FetchRefused) as refusal:
            fetch_url(f"http://images.example:{server.port}/r")
        assert refusal.value.code == "blocked_address"
        assert [r.path for r in server.requests] == ["/r"]  # /secret was never requested
        assert server.requests[0].headers["host"] == f"images.example:{server.port}"

    def test_the_connection_goes_to_the_address_that_was_checked(self, server, monkeypatch, settings):
        """DNS rebinding: the name is resolved once per hop, and that checked address is dialled."""
        settings.ALLOW_LOOPBACK_FETCH = False
        answers = iter([["93.184.215.14"], ["127.0.0.1"]])
        calls = []

        def resolve(host, port):
            calls.append(host)
            return next(answers)

        monkeypatch.setattr(fetching, "_resolve", resolve)
        monkeypatch.setattr(fetching, "_dial_address", lambda ip: "127.0.0.1")
        server.route("/a.jpg", Reply.image(encode(picture())))
        body = fetch_url(f"http://rebind.example:{server.port}/a.jpg")
        assert body.data.startswith(b"\xff\xd8")
        assert calls == ["rebind.example"]

    def test_a_redirect_loop_is_refused(self, server, loopback):
        server.route("/a", Reply.redirect("/b"))
        server.route("/b", Reply.redirect("/a"))
        with pytest.raises(FetchRefused) as refusal:
            fetch_url(server.url("/a"))
        assert refusal.value.code == "redirect_loop"

    def test_too_many_redirects_are_refused(self, server, loopback, settings):
        settings.FETCH_MAX_REDIRECTS = 2
        for i in range(5):
            server.route(f"/{i}", Reply.redirect(f"/{i + 1}"))
        with pytest.raises(FetchRefused) as refusal:
            fetch_url(server.url("/0"))
        assert refusal.value.code == "too_many_redirects"

    def test_a_redirect_to_an_allowed_image_is_followed(self, server, loopback):
        server.route("/old", Reply.redirect("/new.jpg", status=301))
        server.route("/new.jpg", Reply.image(encode(picture())))
        body = fetch_url(server.url("/old"))
        assert body.url.endswith("/new.jpg")


class TestLimits:
    def test_an_oversized_streamed_body_is_cut_off(self, server, loopback, settings):
        settings.IMAGE_MAX_BYTES = 50_000
        server.route(
            "/big", Reply(200, b"\xff\xd8\xff" + b"x" * 16_381, {"Content-Type": "image/jpeg"}, stream_chunks=20)
        )
        with pytest.raises(FetchRefused) as refusal:
            fetch_url(server.url("/big"))
        assert refusal.value.code == "too_large"

    def test_a_declared_oversized_body_is_refused_before_reading(self, server, loopback, settings):
        settings.IMAGE_MAX_BYTES = 1000
        server.route("/big", Reply.image(b"\xff\xd8\xff" + b"x" * 5000))
        with pytest.raises(FetchRefused, match="declares"):
            fetch_url(server.url("/big"))

    def test_a_slow_drip_hits_the_total_deadline(self, server, loopback, settings):
        settings.FETCH_TOTAL_TIMEOUT = 0.5
        server.route("/drip", Reply(200, encode(picture()), {"Content-Type": "image/jpeg"}, drip=0.05))
        with pytest.raises(FetchRefused) as refusal:
            fetch_url(server.url("/drip"))
        assert refusal.value.code == "timeout"

    def test_a_404_is_refused_for_good(self, server, loopback):
        with pytest.raises(FetchRefused) as refusal:
            fetch_url(server.url("/missing.jpg"))
        assert (refusal.value.code, refusal.value.transient) == ("http_404", False)

    def test_a_server_error_may_be_tried_again(self, server, loopback):
        server.route("/busy", Reply(503, b"busy"))
        with pytest.raises(FetchRefused) as refusal:
            fetch_url(server.url("/busy"))
        assert (refusal.value.code, refusal.value.transient) == ("http_503", True)

    def test_a_compressed_body_is_not_inflated(self, server, loopback):
        server.route("/gz", Reply(200, b"\x1f\x8b" + b"0" * 10, {"Content-Encoding": "gzip"}))
        with pytest.raises(FetchRefused) as refusal:
            fetch_url(server.url("/gz"))
        assert refusal.value.code == "encoded_body"


@pytest.mark.django_db
class TestMediaFetch:
    def test_an_exif_gps_jpeg_keeps_its_evidence_and_the_served_copy_has_no_exif(self, server, loopback, crisis):
        server.route("/gps.jpg", Reply.image(jpeg_with_gps(lat=-30.05, lon=-51.18)))
        media = fetch(crisis, server.url("/gps.jpg"))
        assert media.stage == Media.Stage.FETCHED
        assert (round(media.exif_lat, 4), round(media.exif_lon, 4)) == (-30.05, -51.18)
        assert media.exif_taken_at.isoformat() == "2024-05-06T10:11:12+00:00"
        with media.image.open("rb") as served:
            assert not Image.open(io.BytesIO(served.read())).getexif()
        with media.original.open("rb") as original:
            assert Image.open(io.BytesIO(original.read())).getexif().get_ifd(0x8825)  # restricted evidence

    def test_a_rotated_jpeg_is_stored_upright(self, server, loopback, crisis):
        server.route("/rot.jpg", Reply.image(rotated_jpeg()))
        media = fetch(crisis, server.url("/rot.jpg"))
        assert (media.width, media.height) == (40, 80)
        with media.image.open("rb") as served:
            assert Image.open(io.BytesIO(served.read())).size == (40, 80)

    @pytest.mark.parametrize(
        ("fmt", "content_type"), [("PNG", "image/png"), ("WEBP", "image/webp"), ("GIF", "image/gif")]
    )
    def test_png_webp_and_gif_are_accepted(self, server, loopback, crisis, fmt, content_type):
        server.route("/img", Reply.image(encode(picture(), fmt), content_type))
        media = fetch(crisis, server.url("/img"))
        assert (media.stage, media.content_type) == (Media.Stage.FETCHED, content_type)

    def test_a_wrong_content_type_does_not_matter_the_bytes_do(self, server, loopback, crisis):
        server.route("/img", Reply.image(encode(picture(), "PNG"), "text/plain"))
        media = fetch(crisis, server.url("/img"))
        assert (media.stage, media.content_type) == (Media.Stage.FETCHED, "image/png")

    def test_html_claiming_to_be_an_image_is_rejected(self, server, loopback, crisis):
        server.route("/fake.jpg", Reply.image(HTML_PAGE, "image/jpeg"))
        media = fetch(crisis, server.url("/fake.jpg"))
        assert media.stage == Media.Stage.REJECTED
        assert media.reject_reason.startswith("not_an_image")

    def test_a_decompression_bomb_is_rejected(self, server, loopback, crisis):
        server.route("/bomb.png", Reply.image(png_bomb(), "image/png"))
        media = fetch(crisis, server.url("/bomb.png"))
        assert media.stage == Media.Stage.REJECTED
        assert media.reject_reason.startswith("decompression_bomb")

    def test_a_bmp_is_not_among_the_accepted_formats(self, server, loopback, crisis):
        server.route("/a.bmp", Reply.image(encode(picture(), "BMP"), "image/bmp"))
        media = fetch(crisis, server.url("/a.bmp"))
        assert media.reject_reason.startswith("not_an_image")

    @pytest.mark.parametrize(
        ("path", "reply", "code"),
        [
            ("/missing.jpg", None, "http_404"),
            ("/drip", Reply(200, b"\xff\xd8\xff" + b"x" * 200, {}, drip=0.02), "timeout"),
            ("/meta", Reply.redirect("http://169.254.169.254/latest/meta-data/"), "blocked_address"),
            ("/loop", Reply.redirect("/loop"), "redirect_loop"),
            ("/big", Reply(200, b"\xff\xd8\xff" + b"x" * 65_533, {}, stream_chunks=8), "too_large"),
        ],
    )
    def test_every_refusal_is_recorded_with_its_reason(self, server, loopback, crisis, settings, path, reply, code):
        settings.FETCH_TOTAL_TIMEOUT = 0.5
        if reply:
            server.route(path, reply)
        media = fetch(crisis, server.url(path))
        assert media.stage == Media.Stage.REJECTED
        assert media.reject_reason.split(":")[0] == code

    def test_loopback_is_refused_by_default_and_recorded(self, server, crisis, settings):
        settings.ALLOW_LOOPBACK_FETCH = False
        server.route("/a.jpg", Reply.image(encode(picture())))
        media = fetch(crisis, server.url("/a.jpg"))
        assert media.reject_reason.startswith("blocked_address")
        assert server.requests == []

    def test_a_transient_failure_leaves_the_image_waiting_with_the_reason(self, server, loopback, crisis):
        server.route("/busy.jpg", Reply(503, b"busy"))
        media = fetch(crisis, server.url("/busy.jpg"))
        assert media.stage == Media.Stage.NEW
        assert media.reject_reason.startswith("retrying: http_503")

    def test_a_second_delivery_changes_nothing(self, server, loopback, crisis):
        server.route("/a.jpg", Reply.image(encode(picture())))
        media = make_media(crisis, server.url("/a.jpg"))
        assert services.media_fetch(media_id=media.pk) is True
        assert services.media_fetch(media_id=media.pk) is False
        assert len(server.hits("/a.jpg")) == 1

    def test_an_image_with_neither_file_nor_url_is_rejected(self, crisis):
        media = fetch(crisis, "")
        assert media.reject_reason.startswith("no_source")
