"""Who may drive the control plane (`/__mock__/`): not a web page the user happens to visit.

The control plane resets, imports and exports everything, API keys included, so by default it
answers only requests that come neither from another origin nor through another name:

- **Host**: the request must name an address the server is served on: `127.0.0.1`, `localhost`,
  `[::1]` or the address the connection arrived on, with the server's port, or a host the operator
  allowed. A page on `evil.example` whose DNS answer is switched to 127.0.0.1 (DNS rebinding)
  reaches the port, but its requests say `Host: evil.example` and are refused. In-process clients
  (`TestClient`, httpx's ASGI transport) report the host they address as the server's own, so they
  are accepted under any name; under uvicorn that address is the socket's, always an IP literal.
- **Origin**: a browser names the page's origin on every cross-origin call (and on every POST); one
  that is not the server's own, or an opt-in one, is refused before the handler runs, so even a
  "simple" text/plain POST from a page changes nothing. Without an Origin, `Sec-Fetch-Site:
  cross-site` (a navigation, an `<img>`) is refused too.
- **Token** (optional): when one is set, every call must carry it, as `Authorization: Bearer` or
  `X-Mockserver-Token`.

The control plane gets no CORS grants, except for origins the operator allowed.
"""

from __future__ import annotations

import hmac
import typing as t
from dataclasses import dataclass

from mockserver.engine import cors
from mockserver.engine.dialects import DIALECTS
from mockserver.engine.http import Response
from mockserver.engine.issues import ApiError
from mockserver.engine.streams import Receive, Send

TOKEN_ENV = "MOCKSERVER_CONTROL_TOKEN"
TOKEN_HEADER = "x-mockserver-token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
ANY = "*"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

Address = tuple[str, "int | None"]  # (lower-case name without brackets, port; None: any port)


@dataclass(frozen=True)
class ControlAccess:
    """What the control plane accepts beyond its own addresses and origin (all opt-in)."""

    hosts: tuple[str, ...] = ()  # `name` (any port), `name:port`, `[v6]:port`, or `*` (any Host)
    origins: tuple[str, ...] = ()  # `scheme://host[:port]`, or `*` (any origin)
    token: str | None = None  # required on every control call when set

    def __post_init__(self) -> None:
        for host in self.hosts:
            if host != ANY and parse_host(host, None) is None:
                raise ValueError(f"--control-allow-host: not a host name or host:port: {host!r}")
        for origin in self.origins:
            if origin != ANY and parse_origin(origin) is None:
                raise ValueError(f"--control-allow-origin: not an origin (scheme://host[:port]): {origin!r}")
        if self.token is not None and not self.token.strip():
            raise ValueError("--control-token: the token is empty")


def parse_host(value: str, default_port: int | None) -> Address | None:
    """`("localhost", 8000)` for `LOCALHOST:8000`, `("::1", 80)` for `[::1]` (default port 80);
    None when `value` is not a host with an optional port."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        name, rest = value[1:end], value[end + 1:]
        if end < 0 or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    else:
        name, colon, port_text_found = value.partition(":")
        port_text = port_text_found if colon else None
        if ":" in port_text_found:  # an IPv6 literal without brackets is no Host
            return None
    if not name or any(c in name for c in "/@?#\\ "):
        return None
    if port_text is None:
        return name, default_port
    if not (port_text.isascii() and port_text.isdigit() and 0 < len(port_text) <= 5):
        return None
    return name, int(port_text)


def parse_origin(value: str) -> tuple[str, str, int] | None:
    """`("http", "localhost", 3000)` for `http://localhost:3000`; None for `null` or anything that
    is not `scheme://host[:port]`."""
    scheme, separator, authority = value.strip().lower().partition("://")
    if not separator or scheme not in _DEFAULT_PORTS or not authority.rstrip("/"):
        return None
    address = parse_host(authority.rstrip("/"), _DEFAULT_PORTS[scheme])
    if address is None:
        return None
    return scheme, address[0], t.cast(int, address[1])


def _show(address: Address) -> str:
    name, port = address
    shown = f"[{name}]" if ":" in name else name
    return shown if port is None else f"{shown}:{port}"


class ControlGate:
    """Checks every control-plane request before the control app sees it."""

    def __init__(self, access: ControlAccess) -> None:
        self.access = access
        self._hosts = [t.cast(Address, parse_host(h, None)) for h in access.hosts if h != ANY]
        self._any_host = ANY in access.hosts
        self._origins = {parse_origin(o) for o in access.origins if o != ANY}
        self._any_origin = ANY in access.origins

    async def serve(self, app: t.Any, scope: dict[str, t.Any], receive: Receive, send: Send, *,
                    as_sent: dict[str, t.Any], page: bool = False) -> None:
        """Serve `scope` with the control app if the request, `as_sent` (before any rewriting
        of its path or Host), may drive the control plane; otherwise answer the refusal. A
        `page` (the dashboard's and docs' static files, which hold no state) needs no token;
        the Host and Origin checks apply to it all the same."""
        refusal = self.refusal(as_sent)
        if refusal is not None:
            await refusal.send(send)
            return
        origin = cors.header(as_sent, b"origin")
        granted = origin is not None and not self._own_origin(as_sent, origin)
        if granted and cors.is_preflight(as_sent):  # a browser sends no credentials on a preflight
            await cors.preflight_grant(as_sent, t.cast(str, origin).strip()).send(send)
            return
        refusal = None if page else self.token_refusal(as_sent)
        if refusal is not None:
            await refusal.send(send)
            return
        if granted:
            send = cors.with_cors(send, t.cast(str, origin).strip())
        await app(scope, receive, send)

    def refusal(self, scope: dict[str, t.Any]) -> Response | None:
        """The 403 for a request from elsewhere (Host or origin), or None."""
        host_problem = self._host_problem(scope)
        if host_problem is not None:
            return _error(403, f"control plane refused: {host_problem}")
        origin_problem = self._origin_problem(scope)
        if origin_problem is not None:
            return _error(403, f"control plane refused: {origin_problem}", {"vary": "Origin"})
        return None

    def token_refusal(self, scope: dict[str, t.Any]) -> Response | None:
        """The 401 for a request without the token, when one is set; or None."""
        if self.access.token is None or self._has_token(scope):
            return None
        return _error(401, "control plane refused: this server needs its control token, sent as "
                           f"'Authorization: Bearer <token>' or '{_header_title(TOKEN_HEADER)}: <token>'",
                      {"www-authenticate": 'Bearer realm="mockserver control plane"'})

    # -- Host -----------------------------------------------------------------------------------

    def _host_problem(self, scope: dict[str, t.Any]) -> str | None:
        value = cors.header(scope, b"host")
        if value is None or self._any_host:
            return None  # no browser sends a request without a Host
        address = parse_host(value, _DEFAULT_PORTS.get(scope.get("scheme", "http"), 80))
        own = self.own_addresses(scope)
        if address is not None and any(_matches(address, allowed) for allowed in [*own, *self._hosts]):
            return None
        shown = ", ".join(_show(a) for a in [*own, *self._hosts])
        return (f"Host {value!r} is not an address this server is served on ({shown}); "
                "a team server can allow more with --control-allow-host NAME")

    @staticmethod
    def own_addresses(scope: dict[str, t.Any]) -> list[Address]:
        """The loopback names and the address the connection arrived on, with the server's port
        (any port when the ASGI server does not say)."""
        server = scope.get("server") or (None, None)
        bound, port = (str(server[0]).lower() if server[0] else None), server[1]
        names = [*LOOPBACK_NAMES, *([bound] if bound and bound not in LOOPBACK_NAMES else [])]
        return [(name, port) for name in names]

    # -- Origin ---------------------------------------------------------------------------------

    def _origin_problem(self, scope: dict[str, t.Any]) -> str | None:
        origin = cors.header(scope, b"origin")
        if origin is None:
            if (cors.header(scope, b"sec-fetch-site") or "").strip().lower() == "cross-site":
                return ("a cross-site request (Sec-Fetch-Site: cross-site) may not drive the control plane; "
                        "allow a page's origin with --control-allow-origin ORIGIN")
            return None
        if self._own_origin(scope, origin) or self._any_origin or parse_origin(origin) in self._origins:
            return None
        return (f"cross-origin request from {origin!r}: the control plane answers only its own origin; "
                "allow a page's origin with --control-allow-origin ORIGIN")

    @staticmethod
    def _own_origin(scope: dict[str, t.Any], origin: str) -> bool:
        """Whether `origin` is the origin of the URL the request was sent to (its scheme and Host)."""
        parsed = parse_origin(origin)
        scheme = scope.get("scheme", "http")
        host = cors.header(scope, b"host")
        if parsed is None or host is None or scheme not in _DEFAULT_PORTS:
            return False
        address = parse_host(host, _DEFAULT_PORTS[scheme])
        return address is not None and parsed == (scheme, address[0], address[1])

    # -- token ----------------------------------------------------------------------------------

    def _has_token(self, scope: dict[str, t.Any]) -> bool:
        expected = t.cast(str, self.access.token).encode()
        authorization = (cors.header(scope, b"authorization") or "").strip()
        scheme, _, credential = authorization.partition(" ")
        candidates = [cors.header(scope, TOKEN_HEADER.encode()) or ""]
        if scheme.lower() == "bearer":
            candidates.append(credential.strip())
        return any(hmac.compare_digest(c.encode("latin-1"), expected) for c in candidates if c)


def _matches(address: Address, allowed: Address) -> bool:
    return address[0] == allowed[0] and (allowed[1] is None or address[1] == allowed[1])


def _header_title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = DIALECTS["control"].error(ApiError(status, message))
    response.headers.update(headers or {})
    return response
