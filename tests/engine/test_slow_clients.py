"""Slow clients are timed out, over real sockets against `mockserver serve`, and the server keeps
answering everyone else meanwhile."""

from __future__ import annotations

import socket
import typing as t
import urllib.request

import pytest

# The raw requests below name the host `mock`; the control plane answers only its own names unless told.
SERVE_ARGS = ("--api", "invokeai", "--header-timeout", "1", "--body-timeout", "1", "--keep-alive", "1",
              "--max-head-kb", "256", "--control-allow-host", "mock")
GUARD = 60  # seconds a socket waits before the test gives up (a hang guard, not a bound under test)


@pytest.fixture(scope="module")
def address(live_server: str) -> tuple[str, int]:
    host, port = live_server.removeprefix("http://").split(":")
    return host, int(port)


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=GUARD)
    sock.settimeout(GUARD)
    return sock


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    with sock:
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _health(base: str) -> int:
    with urllib.request.urlopen(f"{base}/__mock__/health", timeout=GUARD) as response:
        return response.status


def _body_start(path: str, length: int = 100) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: mock\r\ncontent-type: application/json\r\n"
            f"content-length: {length}\r\n\r\n{{\"a\":").encode()


def test_a_slow_request_head_is_closed_with_a_408(live_server: str, address: tuple[str, int]) -> None:
    slow = _connect(address)
    slow.sendall(b"GET /api/v1/boards/ HTTP/1.1\r\nHost: mock\r\nX-Slow: ")
    assert _health(live_server) == 200  # others are answered while it dawdles
    answer = _until_closed(slow)
    assert answer.startswith(b"HTTP/1.1 408 ") and b"connection: close" in answer


def test_a_silent_connection_is_closed(address: tuple[str, int]) -> None:
    assert _until_closed(_connect(address)) == b""


def test_a_slow_body_gets_a_408_in_the_apis_dialect(live_server: str, address: tuple[str, int]) -> None:
    api, control = _connect(address), _connect(address)
    api.sendall(_body_start("/api/v1/boards/?board_name=slow"))
    control.sendall(_body_start("/__mock__/clock").replace(b"POST", b"PUT"))
    assert _health(live_server) == 200
    answer = _until_closed(api)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert answer.endswith(b'{"detail":"Request body not received within 1 s"}')
    answer = _until_closed(control)
    assert answer.startswith(b"HTTP/1.1 408 ") and answer.endswith(
        b'{"error":{"status":408,"message":"Request body not received within 1 s"}}')
    boards = urllib.request.urlopen(f"{live_server}/api/v1/boards/?all=true", timeout=GUARD).read()
    assert b'"slow"' not in boards  # a partial body is never handled


def test_a_body_trickled_byte_by_byte_is_still_timed_out(address: tuple[str, int]) -> None:
    """The body deadline counts from the first read, not from the last byte: the server gives up
    while the client is still trickling (its 10,000 bytes would take half an hour)."""
    sock = _connect(address)
    sock.sendall(_body_start("/api/v1/boards/?board_name=trickle", length=10_000))
    sock.settimeout(0.2)
    received, reset = b"", False
    for _ in range(200):  # a byte every 0.2 s until the server gives up on the body
        try:
            sock.sendall(b" ")
            received += sock.recv(65536)
        except (TimeoutError, socket.timeout):
            continue
        except (ConnectionResetError, BrokenPipeError):
            reset = True
            break
        except OSError:
            break
        if received:
            break
    sock.settimeout(GUARD)
    try:
        received += _until_closed(sock)
    except ConnectionResetError:
        reset = True
    # A byte that reaches the server just after it closed makes its kernel answer with a reset,
    # which can drop the 408 before it is read (seen on a loaded machine): the connection still
    # ended while the client was trickling. The 408 itself is checked in the test above.
    assert received.startswith(b"HTTP/1.1 408 ") or (reset and not received), received


def test_an_idle_keep_alive_connection_is_closed_after_its_answer(address: tuple[str, int]) -> None:
    sock = _connect(address)
    sock.sendall(b"GET /__mock__/health HTTP/1.1\r\nHost: mock\r\n\r\n")
    answer = _until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.count(b"HTTP/1.1") == 1


def test_a_request_in_time_is_answered_normally(live_server: str, address: tuple[str, int]) -> None:
    sock = _connect(address)
    body = b'{"board_name": "x"}'
    head = (f"PATCH /api/v1/boards/none HTTP/1.1\r\nHost: mock\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode()
    sock.sendall(head + body)
    answer: t.Any = _until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 404 ")  # no board `none`: the body was read and handled


def test_a_long_header_value_gets_its_normal_answer(live_server: str) -> None:
    request = urllib.request.Request(f"{live_server}/api/v1/boards/?all=true", headers={"X-Long": "a" * 200_000})
    with urllib.request.urlopen(request, timeout=GUARD) as response:
        assert response.status == 200


def test_a_request_head_past_its_bound_is_a_431(address: tuple[str, int]) -> None:
    sock = _connect(address)
    head = b"GET /api/v1/boards/ HTTP/1.1\r\nHost: mock\r\nX-Huge: "
    # One byte past the bound, and no more: the server has read all of it when it answers, so it
    # closes cleanly (unread bytes would make the close a reset, losing the answer).
    sock.sendall(head + b"a" * (256 * 1024 + 1 - len(head)))
    answer = _until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_a_websocket_outlives_the_head_deadline(live_server: str) -> None:
    import time

    import websocket

    url = live_server.replace("http://", "ws://") + "/ws/socket.io/?EIO=4&transport=websocket"
    ws = websocket.create_connection(url, timeout=GUARD)
    try:
        assert ws.recv().startswith("0{")  # engine.io's open packet
        time.sleep(3)  # past the 1 s head deadline, which must not touch an upgraded connection
        ws.send("40")
        assert ws.recv().startswith("40{")  # socket.io's connect answer
    finally:
        ws.close()
