"""Which URLs a webhook may send to: http(s) on a public address, so that a webhook cannot
reach the services' own network (databases, cloud metadata) on a caller's behalf.

Checked when a webhook is created and again before every delivery, as a name can be pointed
elsewhere after it was accepted.
"""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

SCHEMES = ("http", "https")
RESOLVE_TIMEOUT_SECONDS = 5.0


class RefusedTarget(ValueError):
    """A URL a webhook may not send to; the message says why."""


def _kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What makes `address` off limits, or None for a public address."""
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if address.is_multicast:
        return "a multicast address"
    if not address.is_global:
        # Private ranges, carrier-grade NAT (where some clouds serve metadata), reserved ones.
        return "a private or reserved address"
    return None


def parse_target(url: str) -> tuple[str, int]:
    """The host and port of a webhook URL; raise RefusedTarget when it is not http(s)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise RefusedTarget(f"not a valid URL: {error}") from None
    if parts.scheme not in SCHEMES:
        raise RefusedTarget("the URL must start with http:// or https://")
    if not parts.hostname:
        raise RefusedTarget("the URL has no host")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check_target(url: str, *, allow_private: bool) -> None:
    """Raise RefusedTarget unless `url` is http(s) and its host resolves to public addresses
    only (any address, with `allow_private`)."""
    host, port = parse_target(url)
    if allow_private:
        return
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
    except TimeoutError:
        raise RefusedTarget(f"the host {host} did not resolve within 5 s") from None
    except (OSError, ValueError) as error:  # ValueError: a name IDNA cannot encode
        raise RefusedTarget(f"the host {host} does not resolve: {error}") from None
    for *_, sockaddr in found:
        # An IPv6 link-local address comes with its interface: fe80::1%eth0.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        kind = _kind(address)
        if kind is not None:
            raise RefusedTarget(
                f"the host {host} resolves to {address}, {kind}; "
                "set WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow it"
            )
