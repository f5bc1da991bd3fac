"""The real server (uvicorn on 127.0.0.1) under slow and concurrent clients: it answers while
another client is mid-upload, cuts off a stalled upload (408) and a silent connection, caps
concurrent uploads (503), and keeps serving afterwards."""

from __future__ import annotations

import json
import socket
import threading
import time

import numpy as np
import pytest

from tests.app.conftest import live_server, png_bytes

httpx = pytest.importorskip("httpx")

IDLE_TIMEOUT_S = 2.0
HEADER_TIMEOUT_S = 1.5
MAX_UPLOADS = 2
QUERY = png_bytes(np.full((32, 32, 3), 90, np.uint8))


@pytest.fixture(scope="module")
def server(network_file, gallery):
    from embedding_net.app import create_app

    index_file, _, _ = gallery
    app = create_app(
        network_file,
        index_file,
        map_max_iter=250,
        max_uploads=MAX_UPLOADS,
        idle_timeout_s=IDLE_TIMEOUT_S,
        body_timeout_s=30.0,
    )
    with live_server(app, header_timeout_s=HEADER_TIMEOUT_S) as url:
        yield url


def _multipart(data: bytes, boundary: str = "slowboundary") -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="q.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )


def _slow_upload(url: str, body: bytes) -> socket.socket:
    """A socket that sent the request headers and the first 10 bytes of ``body``."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = (
        f"POST /api/search HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
        "Content-Type: multipart/form-data; boundary=slowboundary\r\n\r\n"
    )
    sock.sendall(head.encode() + body[:10])
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body or b"null")


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def _timed(call):
    start = time.monotonic()
    response = call()
    return response, time.monotonic() - start


def test_answers_while_another_client_is_mid_upload(server):
    body = _multipart(QUERY)
    sock = _slow_upload(server, body)
    done = threading.Event()

    def trickle():  # the rest of the body in 12 chunks, one every 0.5 s (below the idle timeout)
        rest = body[10:]
        step = max(1, -(-len(rest) // 12))
        for start in range(0, len(rest), step):
            time.sleep(0.5)
            sock.sendall(rest[start : start + step])
        done.set()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    with httpx.Client(base_url=server, timeout=10) as client:
        info, info_s = _timed(lambda: client.get("/api/info"))
        search, search_s = _timed(
            lambda: client.post("/api/search", files={"image": ("q.png", QUERY)})
        )
    assert not done.is_set(), "the slow upload finished before the other requests were answered"
    assert info.status_code == 200 and info_s < 4.0
    assert search.status_code == 200 and search_s < 4.0
    thread.join(timeout=30)
    status, answer = _read_response(sock)
    sock.close()
    assert status == 200 and len(answer["results"]) == 5  # the slow upload is answered too
    assert answer["results"] == search.json()["results"]


def test_stalled_upload_is_cut_off_and_the_server_still_serves(server):
    sock = _slow_upload(server, _multipart(QUERY))
    start = time.monotonic()
    status, answer = _read_response(sock)
    waited = time.monotonic() - start
    sock.close()
    assert status == 408 and "too slowly" in answer["detail"]
    assert IDLE_TIMEOUT_S - 0.5 < waited < IDLE_TIMEOUT_S + 5
    response = httpx.post(f"{server}/api/search", files={"image": ("q.png", QUERY)}, timeout=10)
    assert response.status_code == 200


def test_silent_connection_is_closed(server):
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"GET /api/info HT")  # a request header that never ends
        start = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server
        assert time.monotonic() - start < 2 * HEADER_TIMEOUT_S + 3
    assert httpx.get(f"{server}/api/info", timeout=10).status_code == 200


def test_concurrent_uploads_are_capped_with_503(server):
    stalled = [_slow_upload(server, _multipart(QUERY)) for _ in range(MAX_UPLOADS)]
    time.sleep(0.3)  # both are being received
    with httpx.Client(base_url=server, timeout=10) as client:
        busy = client.post("/api/search", files={"image": ("q.png", QUERY)})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert "busy" in busy.json()["detail"]
        assert client.get("/api/info").status_code == 200  # reads are not capped
        for sock in stalled:
            sock.close()
        deadline = time.monotonic() + 10
        while True:  # the dropped uploads free their places
            response = client.post("/api/search", files={"image": ("q.png", QUERY)})
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert response.status_code == 200


def test_parallel_searches_give_the_sequential_answers(server):
    from concurrent.futures import ThreadPoolExecutor

    queries = [png_bytes(np.full((32, 32, 3), v, np.uint8)) for v in (20, 90, 160, 230)]
    with httpx.Client(base_url=server, timeout=30) as client:
        expected = [
            client.post("/api/search", files={"image": ("q.png", q)}).json() for q in queries
        ]

        def search(q):
            return client.post("/api/search", files={"image": ("q.png", q)})

        with ThreadPoolExecutor(MAX_UPLOADS) as pool:
            answers = list(pool.map(search, queries * 2))
    assert all(a.status_code == 200 for a in answers)
    assert [a.json() for a in answers] == expected * 2


@pytest.fixture(scope="module")
def client(network_file, gallery):
    from fastapi.testclient import TestClient

    from embedding_net.app import create_app

    app = create_app(network_file, gallery[0], max_upload_bytes=1000, map_max_iter=250)
    return TestClient(app)


def test_guard_refuses_bad_length_type_and_size(client):
    multipart = {"content-type": "multipart/form-data; boundary=b"}
    bad_length = client.post(
        "/api/search", content=b"", headers={**multipart, "content-length": "x"}
    )
    assert bad_length.status_code == 400 and "Content-Length" in bad_length.json()["detail"]
    too_big = client.post("/api/search", content=b"\0" * 70_000, headers=multipart)
    assert too_big.status_code == 413 and "larger than the limit" in too_big.json()["detail"]
    as_json = client.post("/api/search", json={"image": "abc"})
    assert as_json.status_code == 415 and "multipart/form-data" in as_json.json()["detail"]
    chunked = client.post(
        "/api/search", content=iter([b"\0" * 40_000, b"\0" * 40_000]), headers=multipart
    )
    assert chunked.status_code == 413  # no Content-Length: counted while it arrives


def test_guard_options_are_validated(network, gallery):
    from embedding_net.app.limits import RequestGuard, header_deadline_protocol

    for bad in ({"max_uploads": 0}, {"idle_timeout_s": 0}, {"body_timeout_s": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            RequestGuard(None, max_body_bytes=10, **bad)
    with pytest.raises(ValueError, match="header_timeout_s"):
        header_deadline_protocol(0)
