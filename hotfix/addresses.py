"""What an address in the configuration must look like: ``listen``, Redis URLs, webhook URLs, emails.

Invariants: the settings refuse (and ``check-config`` names) exactly what would later fail the
processes at start or at delivery — so a configuration that passes ``check-config`` starts. Each
``*_problem`` returns None for a good value, else a short reason that never repeats a secret (a
webhook URL is one: only its scheme is named). The parsers here are the ones the processes use.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from email.utils import parseaddr
from urllib.parse import parse_qs, urlsplit

from email_validator import EmailNotValidError, validate_email

#: Host names that are the machine itself (http:// is allowed to them: a local relay or test stand-in).
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
#: The Sentinel port when a URL names none.
SENTINEL_PORT = 26379
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel")


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8080`` for IPv6, ``:8080`` for every interface) as (host, port); ``ValueError`` else."""
    host, sep, port = listen.strip().rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"expected host:port with a port from 1 to 65535 (e.g. 127.0.0.1:8080), got {listen!r}")
    host = host.strip("[]")
    if host and not _host_like(host):
        raise ValueError(f"{host!r} is not a host name or an IP address")
    return host or "0.0.0.0", int(port)


@dataclass(frozen=True)
class RedisTarget:
    """A parsed ``[redis] url``."""

    scheme: str
    hosts: list[tuple[str, int]] = field(default_factory=list)
    service: str = "mymaster"
    db: int = 0
    password: str | None = None


def parse_redis_url(url: str) -> RedisTarget:
    """``redis://``, ``rediss://``, ``unix://`` or ``redis+sentinel://h1:26379,h2/service/db``; ``ValueError`` else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in REDIS_SCHEMES:
        got = f"{parts.scheme}://" if parts.scheme and "://" in url else "no scheme"  # never the rest: it may hold a password
        raise ValueError(f"expected a URL starting with {', '.join(s + '://' for s in REDIS_SCHEMES)}, got {got}")
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("unix:// needs the socket's path, e.g. unix:///run/redis/redis.sock?db=0")
        return RedisTarget("unix", db=_db(parse_qs(parts.query).get("db", ["0"])[0]), password=parts.password)
    if parts.scheme == "redis+sentinel":
        netloc = parts.netloc.rpartition("@")[2]
        hosts = [_host_port(h, SENTINEL_PORT) for h in netloc.split(",") if h]
        if not hosts:
            raise ValueError("redis+sentinel:// needs at least one sentinel host, e.g. redis+sentinel://h1:26379/mymaster/0")
        path = [p for p in parts.path.split("/") if p]
        return RedisTarget("redis+sentinel", hosts, path[0] if path else "mymaster", _db(path[1] if len(path) > 1 else "0"),
                           parts.password)
    if not parts.hostname:
        raise ValueError(f"{parts.scheme}:// needs a host, e.g. {parts.scheme}://127.0.0.1:6379/0")
    return RedisTarget(parts.scheme, [_host_port(parts.netloc.rpartition("@")[2], 6379)], db=_db(parts.path.strip("/") or "0"),
                       password=parts.password)


def redis_problem(url: str) -> str | None:
    """Why ``url`` is not a Redis URL Herald can use (None when it is)."""
    try:
        parse_redis_url(url)
    except ValueError as exc:
        return str(exc)
    return None


def webhook_problem(url: str) -> str | None:
    """Why a Teams webhook URL is refused: it must be https://, or http:// to this machine only (never echoed)."""
    parts = urlsplit(url.strip())
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "not a valid URL (bad port)"
    if parts.scheme not in ("https", "http") or not host:
        scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
        return f"expected an https:// URL (the webhook's address from Teams), got {scheme}"
    if parts.scheme == "http" and not is_loopback(host):
        return "http:// is only allowed to this machine (127.0.0.1, ::1, localhost): use the https:// URL"
    return None


def email_problem(address: str) -> str | None:
    """Why ``address`` is not one email address (``name@example.com``); None when it is.

    The local part is checked by email-validator; the domain only for its syntax, so that an internal
    domain (``corp``, ``mail.local``, ``localhost``) is accepted.
    """
    text = address.strip()
    local, at, domain = text.rpartition("@")
    expected = f"{address!r} is not an email address (expected name@example.com)"
    if not at or not local or not text or len(text) > 254:
        return expected
    try:
        if not _host_like(domain.encode("idna").decode("ascii")):
            return f"{address!r} is not an email address: {domain!r} is not a domain"
    except UnicodeError:
        return f"{address!r} is not an email address: {domain!r} is not a domain"
    try:
        validate_email(f"{local}@example.com", check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        return f"{address!r} is not an email address: {exc}"
    return None


def sender_problem(sender: str) -> str | None:
    """Why a ``From`` value (``Name <address>`` or an address) is refused; None when it is good."""
    if any(c in sender for c in "\r\n\x00"):
        return "one line expected (no line break)"
    _name, address = parseaddr(sender)
    if "@" not in address:
        return f"{sender!r} has no email address (expected Name <name@example.com>)"
    return email_problem(address)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (a loopback IP or name)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_like(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        labels = host.rstrip(".").split(".")
        return all(0 < len(label) <= 63 and label.replace("-", "").replace("_", "").isalnum() and label.isascii()
                   for label in labels)


def _host_port(text: str, default: int) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = text.partition(":") if text.count(":") == 1 else (text, "", "")
    if not host or not _host_like(host):
        raise ValueError(f"{text!r} is not host:port")
    if port_text and not (port_text.isascii() and port_text.isdigit() and 1 <= int(port_text) <= 65535):
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return host, int(port_text) if port_text else default


def _db(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"the database must be a number (e.g. /0), got {text!r}")
    return int(text)
