"""Fake API and image servers on loopback (real HTTP, http.server in a thread), and generated images."""

import contextlib
import io
import json
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    # Slow drip: send the body one byte at a time, ``drip`` seconds apart.
    drip: float = 0.0
    # Streamed without Content-Length: ``stream_chunks`` chunks of ``body``.
    stream_chunks: int = 0

    @classmethod
    def json(cls, data, status: int = 200, headers: dict | None = None) -> "Reply":
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def image(cls, data: bytes, content_type: str = "image/jpeg") -> "Reply":
        return cls(200, data, {"Content-Type": content_type})

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> "Reply":
        return cls(status, b"", {"Location": location})


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, [default])[0]


class FakeServer:
    """Routes map a path to a Reply, a list of Replies served in turn (the last repeats), or a callable."""

    def __init__(self):
        self.routes: dict[str, object] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server._serve(self)

            def do_POST(self):
                server._serve(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, reply) -> None:
        self.routes[path] = list(reply) if isinstance(reply, list | tuple) else reply

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def start(self) -> "FakeServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        request = Request(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=handler.rfile.read(length) if length else b"",
        )
        self.requests.append(request)
        route = self.routes.get(parts.path)
        if isinstance(route, list):
            reply = route.pop(0) if len(route) > 1 else route[0]
        elif callable(route):
            reply = route(request)
        else:
            reply = route or Reply(404, b"not found")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up, as it should
            self._write(handler, reply)

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if not reply.drip and not reply.stream_chunks:
            handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        if reply.drip:
            for byte in reply.body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(reply.drip)
        elif reply.stream_chunks:
            for _ in range(reply.stream_chunks):
                handler.wfile.write(reply.body)
        else:
            handler.wfile.write(reply.body)


# Images ----------------------------------------------------------------------------------------------


def picture(*, seed: int = 1, size=(96, 72)) -> Image.Image:
    """A textured picture (PHash needs structure: plain colours all hash alike)."""
    image = Image.new("RGB", size, (20 * seed % 255, 80, 160))
    draw = ImageDraw.Draw(image)
    width, height = size
    for i in range(6):
        x0 = (seed * 37 + i * 53) % width
        y0 = (seed * 17 + i * 29) % height
        draw.rectangle(
            [x0, y0, x0 + width // 3, y0 + height // 4], fill=((seed * 91 + i * 40) % 255, i * 40, 255 - i * 30)
        )
    draw.ellipse([width // 4, height // 4, 3 * width // 4, 3 * height // 4], outline=(255, 255, 255), width=3)
    return image


def encode(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def jpeg_with_gps(*, lat: float = -30.05, lon: float = -51.18, taken: str = "2024:05:06 10:11:12") -> bytes:
    """A JPEG whose EXIF carries a GPS position and the time it was taken."""
    exif = Image.Exif()
    exif[0x0132] = taken
    gps = exif.get_ifd(0x8825)

    def dms(value: float) -> tuple:
        value = abs(value)
        degrees = int(value)
        minutes = int((value - degrees) * 60)
        seconds = round(((value - degrees) * 60 - minutes) * 60, 4)
        return (float(degrees), float(minutes), seconds)

    gps.update({1: "S" if lat < 0 else "N", 2: dms(lat), 3: "W" if lon < 0 else "E", 4: dms(lon)})
    exif.get_ifd(0x8769)[0x9003] = taken
    return encode(picture(seed=3), "JPEG", exif=exif)


def rotated_jpeg() -> bytes:
    """Stored 80x40 landscape with EXIF orientation 6: it is meant to be seen 40x80, portrait."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(picture(seed=4, size=(80, 40)), "JPEG", exif=exif)


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG declaring 900 million pixels: Pillow must refuse it at open, before any decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


HTML_PAGE = b"<!doctype html><html><body><h1>Not an image</h1></body></html>"
