"""Where a webhook may be sent (server-side request forgery, SSRF).

A subscription's URL is checked when it is saved and its address again at every
delivery (DNS may change: the connection goes to the very address that was checked):

- https to a public address: always;
- http, or an address on this machine or the private network (10/8, 172.16/12,
  192.168/16, fc00::/7, fec0::/10, 127/8): only when WEBHOOK_ALLOW_PRIVATE_TARGETS
  is set (an intranet receiver, the tests);
- link-local (169.254/16 with the cloud metadata service, fe80::/10), multicast,
  unspecified and reserved addresses: never.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    pass


def _private_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_TARGETS", False))


# NAT64's well-known prefix: the last 32 bits are the IPv4 address reached.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches through a translation (mapped, 6to4,
    NAT64): checked as that address, as the network would deliver it there."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def check_address(ip: IPAddress) -> None:
    if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)):
        ip = embedded
    if (
        ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or (ip.is_reserved and not ip.is_loopback)
    ):
        raise TargetRefused(_("Webhooks cannot be sent to %(ip)s.") % {"ip": ip})
    # Site-local IPv6 (fec0::/10) is deprecated but still routed inside old
    # intranets, and Python counts it as global: it is a private network.
    private = not ip.is_global or getattr(ip, "is_site_local", False)
    if private and not _private_allowed():
        raise TargetRefused(
            _("Webhooks are sent to public addresses only; %(ip)s is private.")
            % {"ip": ip}
        )


def split(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an acceptable URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise TargetRefused(_("A webhook URL starts with https://."))
    if scheme == "http" and not _private_allowed():
        raise TargetRefused(_("A webhook URL starts with https://."))
    if parts.username or parts.password:
        raise TargetRefused(_("A webhook URL carries no user name or password."))
    host = parts.hostname
    if not host:
        raise TargetRefused(_("A webhook URL needs a host."))
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise TargetRefused(_("The port of this URL is not a number.")) from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, host, port, path


def resolve(host: str, port: int) -> IPAddress:
    """The address to connect to, checked (every address the name has must pass)."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        check_address(literal)
        return literal
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise TargetRefused(
            _("The host %(host)s is not known.") % {"host": host}
        ) from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for ip in addresses:
        check_address(ip)
    return addresses[0]


def check_url(url: str, *, resolve_host: bool = True) -> None:
    """Raise TargetRefused (with a message for the form) when ``url`` may not be used."""
    host, port = split(url)[1:3]
    if resolve_host:
        resolve(host, port)
