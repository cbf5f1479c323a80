"""One webhook POST to an address checked beforehand, answering a status or a short error.

The connection goes to `Destination.address`, the address `webhook_destinations.resolve` checked,
while the Host header and the TLS certificate check use the URL's host name: urllib3's pools
take the address to connect to and the name to verify separately (`server_hostname`,
`assert_hostname`), so no second DNS lookup happens between the check and the connection.
Environment proxies are not used, redirects are not followed, and nothing the peer sent (a
banner of a non-HTTP service, a body) ever reaches the error text, which lands in a log that
editors read.
"""

from __future__ import annotations

from dataclasses import dataclass

import certifi
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from rollout.webhook_destinations import Destination


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: str | None


def host_header(destination: Destination) -> str:
    host = f"[{destination.host}]" if ":" in destination.host else destination.host
    default = 443 if destination.scheme == "https" else 80
    return host if destination.port == default else f"{host}:{destination.port}"


def pool_for(
    destination: Destination, timeout: urllib3.Timeout, ca_certs: str
) -> urllib3.HTTPConnectionPool:
    if destination.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            destination.address,
            destination.port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs,
            assert_hostname=destination.host,
            server_hostname=destination.host,
        )
    return urllib3.HTTPConnectionPool(
        destination.address, destination.port, timeout=timeout, retries=False
    )


def post(
    destination: Destination,
    body: bytes,
    headers: dict[str, str],
    connect_timeout_s: float,
    read_timeout_s: float,
    ca_certs: str | None = None,
) -> Outcome:
    """POST `body`; the answer's status, or an error phrased by us from the failure's kind.
    HTTPS is verified against `ca_certs` (a PEM bundle; certifi's by default)."""
    timeout = urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s)
    pool = pool_for(destination, timeout, ca_certs or certifi.where())
    try:
        response = pool.urlopen(
            "POST",
            destination.target,
            body=body,
            headers={**headers, "Host": host_header(destination)},
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        status = response.status
        response.close()  # the body is not read: a receiver's answer is its status alone
        return Outcome(status, None)
    except HTTPError as exc:
        return Outcome(None, failure(exc, connect_timeout_s, read_timeout_s))
    finally:
        pool.close()


def failure(exc: HTTPError, connect_timeout_s: float, read_timeout_s: float) -> str:
    """A fixed phrase per kind of failure: never the exception's text, which can quote the peer."""
    if isinstance(exc, NewConnectionError):  # a subclass of ConnectTimeoutError: first
        return "connection refused or unreachable"
    if isinstance(exc, ConnectTimeoutError):
        return f"connect timed out after {connect_timeout_s:g} s"
    if isinstance(exc, ReadTimeoutError):
        return f"no answer within {read_timeout_s:g} s"
    if isinstance(exc, SSLError):
        return "TLS handshake or certificate check failed"
    if isinstance(exc, ProtocolError):
        return "the receiver's answer is not HTTP, or the connection was dropped"
    return f"delivery failed ({type(exc).__name__})"
