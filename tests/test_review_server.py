"""The review server against clients that misbehave, over raw sockets: deep JSON, resets,
bodies shorter than their Content-Length, other sites' pages and lax content types. None of
these may print a traceback, hold a thread past the socket timeout, or save a decision."""
from __future__ import annotations

import json
import socket
import struct
import time

import pytest

from cleanlab_lite.review import ReviewServer, json_content_type

from tests.runs import make_ranked_run

TIMEOUT = 1.0   # seconds: the server's socket timeout in these tests


@pytest.fixture
def served(tmp_path):
    run = make_ranked_run(tmp_path, flagged={"cat": 2, "dog": 3, "bird": 1})
    with ReviewServer(run, port=0, timeout=TIMEOUT) as srv:
        srv.start()
        yield srv


def raw(srv, data: bytes, *, read=True, wait=5.0) -> bytes:
    """Send `data` on a fresh connection and return everything the server answers."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=wait)
    try:
        s.sendall(data)
        if not read:
            return b""
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def post(srv, body: bytes, *, ctype="application/json", length=None, extra="") -> bytes:
    head = (f"POST /api/decide?token={srv.token} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body) if length is None else length}\r\n"
            f"{extra}Connection: close\r\n\r\n")
    return raw(srv, head.encode() + body)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_deeply_nested_json_is_a_400_not_a_traceback(served, capfd):
    answer = post(served, b"[" * 60_000)
    assert status_of(answer) == 400 and b"not JSON" in answer
    assert "Traceback" not in capfd.readouterr().err
    assert not (served.run / "decisions.csv").exists()


@pytest.mark.slow
def test_reset_connections_print_nothing(served, capfd):
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", served.port))
        s.sendall(f"GET /api/items?token={served.token} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}"
                  "\r\n\r\n".encode())
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
        s.close()
    half = socket.create_connection(("127.0.0.1", served.port))
    half.sendall(b"GET / HT")                                   # a request cut off mid-line
    half.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    half.close()
    time.sleep(0.5)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err
    assert status_of(raw(served, f"GET /api/items?token={served.token} HTTP/1.0\r\nHost: "
                                 f"127.0.0.1:{served.port}\r\n\r\n".encode())) == 200


@pytest.mark.slow
def test_a_body_shorter_than_its_length_frees_the_connection(served, capfd):
    start = time.monotonic()
    answer = post(served, b'{"row": 1', length=1000)
    took = time.monotonic() - start
    assert took < TIMEOUT + 3, took
    assert answer == b"" or status_of(answer) in (400, 408)
    # a silent client is dropped too
    s = socket.create_connection(("127.0.0.1", served.port), timeout=TIMEOUT + 5)
    start = time.monotonic()
    assert s.recv(100) == b""         # the server closes it after its timeout
    assert time.monotonic() - start < TIMEOUT + 3
    s.close()
    assert "Traceback" not in capfd.readouterr().err
    assert not (served.run / "decisions.csv").exists()


@pytest.mark.slow
@pytest.mark.parametrize("extra", ["Origin: https://evil.example\r\n", "Origin: null\r\n",
                                   "Origin: http://127.0.0.1:1\r\n",
                                   "Sec-Fetch-Site: cross-site\r\n"])
def test_another_sites_page_cannot_decide(served, extra):
    answer = post(served, json.dumps({"row": 1, "decision": "drop"}).encode(), extra=extra)
    assert status_of(answer) == 403, answer
    assert not (served.run / "decisions.csv").exists()


@pytest.mark.slow
@pytest.mark.parametrize("ctype", ["text/plain; charset=json", "text/plain", "application/jsonx",
                                   "application/x-www-form-urlencoded", "multipart/form-data",
                                   "application/json; boundary=x", ""])
def test_only_application_json_is_json(served, ctype):
    answer = post(served, json.dumps({"row": 1, "decision": "drop"}).encode(), ctype=ctype)
    assert status_of(answer) == 415, answer
    assert not (served.run / "decisions.csv").exists()


def test_the_pages_own_origin_and_json_are_accepted(served):
    answer = post(served, json.dumps({"row": 1, "decision": "drop"}).encode(),
                  ctype="application/json; charset=UTF-8",
                  extra=f"Origin: http://127.0.0.1:{served.port}\r\nSec-Fetch-Site: same-origin\r\n")
    assert status_of(answer) == 200, answer
    assert (served.run / "decisions.csv").is_file()


def test_json_content_type():
    assert json_content_type("application/json") and json_content_type("Application/JSON;charset=utf-8")
    assert not json_content_type(None) and not json_content_type("text/json")
