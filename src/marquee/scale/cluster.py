"""Connecting to Ray: a local instance on this machine, or an existing cluster, with one-line errors.

Ray is imported here only when asked for (an optional extra: ``pip install 'marquee[ray]'``); the
modules that use it (:mod:`marquee.scale.ray_data`, :mod:`marquee.scale.ray_serve`) start through
:func:`connect`.
"""

from __future__ import annotations

import socket
from typing import Any

from marquee.errors import ConfigError

__all__ = ["check_reachable", "connect", "import_ray"]


def import_ray(what: str = "the ray engine", instead: str = "choose --engine process") -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"{what} needs Ray: pip install 'marquee[ray]' (or {instead})") from None
    return ray


def check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """A ``host:port`` (or ``ray://host:port``) that does not accept a connection: one line, at once
    (``ray.init`` would retry for minutes). ``auto`` and ``local`` are left to Ray."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"a Ray address is host:port, ray://host:port or auto; got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(f"could not reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def connect(ray: Any, address: str | None, *, num_cpus: int) -> bool:
    """Start a local Ray with ``num_cpus`` logical CPUs (``address`` None) or join the cluster at
    ``address``; returns whether this call started Ray (the caller then shuts it down). Joining an
    already initialised Ray returns False.

    Raises:
        ConfigError: the cluster cannot be reached (one line, no trace).
    """
    if address is not None:
        check_reachable(address)
    if ray.is_initialized():
        return False
    try:
        if address is None:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"could not reach the Ray cluster at {address or 'a new local instance'}: {str(exc).splitlines()[0]}") from None
    return True
