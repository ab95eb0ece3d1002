"""warden: the guest SDK for Python plugins and snippets.

The capabilities of the WIT package ``warden:plugin@0.1.0`` as plain Python
(everything is synchronous: each function is one host call)::

    from warden import log, info, kv, call, emit, CapabilityDenied

    log("info", "hello")              # level: trace, debug, info, warn (or warning), error
    info("hello", 42)                 # debug/info/warning/error(*parts); also trace, warn
    kv.set("k", "text")               # str (stored as UTF-8) or bytes-like
    kv.get("k")                       # -> "text" | None (invalid UTF-8 becomes U+FFFD)
    kv.get_bytes("k")                 # -> b"text" | None
    kv.delete("k")                    # -> True if the key existed
    kv.list_keys("prefix")            # -> sorted list of keys starting with prefix ('' = all)
    call("echo", {"a": 1})            # -> the function's JSON result, parsed
    emit("orders.created", {"id": 1}) # payload is json.dumps'd

Errors: a WIT ``error`` from the host raises a ``WardenError`` subclass whose
message (``str(e)``, also ``e.message``) is the WIT payload and whose ``kind``
is the WIT case:

    ==================  ================  ==========================================
    class               WIT case          when
    ==================  ================  ==========================================
    CapabilityDenied    denied            the policy does not grant it
    LimitExceeded       limit-exceeded    a quota (for example the kv byte quota)
    InvalidArgument     invalid           a bad key, invalid JSON, an unknown name
    HostError           failed            granted, but the operation failed
    ==================  ================  ==========================================

A ``CapabilityDenied`` that escapes a snippet's entry point makes the call fail
as ``denied: <message>`` (CAPABILITY_DENIED in the host); catch it to carry on.

Arguments the SDK itself rejects raise ordinary Python errors before any host
call: ``ValueError`` for an unknown log level, ``TypeError`` for a kv value that
is neither ``str`` nor bytes-like, ``TypeError``/``ValueError`` from
``json.dumps`` for ``call`` arguments or ``emit`` payloads that are not JSON
(``NaN``/``Infinity`` are refused, as they are not JSON).

Host imports cannot be called while the component is being built
(componentize-py runs module top-level code at build time, with no host):
call capabilities from ``run`` (or functions it calls), not at import time.
"""

import json as _json

from componentize_py_types import Err as _Err
from wit_world.imports import events as _events
from wit_world.imports import host as _host
from wit_world.imports import kv as _kv
from wit_world.imports import log as _log
from wit_world.imports import types as _types

__all__ = [
    "WardenError",
    "CapabilityDenied",
    "LimitExceeded",
    "InvalidArgument",
    "HostError",
    "log",
    "trace",
    "debug",
    "info",
    "warn",
    "warning",
    "error",
    "kv",
    "call",
    "emit",
]


# ---------------------------------------------------------------------------
# Errors


class WardenError(Exception):
    """A capability returned a WIT ``error``; ``str(e)`` is the WIT payload."""

    #: The WIT case: ``denied``, ``limit-exceeded``, ``invalid`` or ``failed``.
    kind = "failed"

    def __init__(self, message=""):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return str(self.message)


class CapabilityDenied(WardenError):
    """The policy does not grant this (WIT ``denied``)."""

    kind = "denied"


class LimitExceeded(WardenError):
    """A quota or limit of the capability was reached (WIT ``limit-exceeded``)."""

    kind = "limit-exceeded"


class InvalidArgument(WardenError):
    """The request was malformed (WIT ``invalid``)."""

    kind = "invalid"


class HostError(WardenError):
    """The capability was granted but the operation failed (WIT ``failed``)."""

    kind = "failed"


_ERROR_CLASSES = {
    _types.Error_Denied: CapabilityDenied,
    _types.Error_LimitExceeded: LimitExceeded,
    _types.Error_Invalid: InvalidArgument,
    _types.Error_Failed: HostError,
}


def _convert(err):
    """The SDK exception for a componentize-py ``Err(types.Error)``."""
    value = err.value
    cls = _ERROR_CLASSES.get(type(value), HostError)
    payload = getattr(value, "value", value)
    return cls(payload if isinstance(payload, str) else repr(payload))


def _host_call(fn, *args):
    try:
        return fn(*args)
    except _Err as e:
        exc = _convert(e)
    # Raised outside the `except` block: no "During handling of Err" context.
    raise exc


def _to_json(value, what):
    try:
        return _json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise type(e)(f"{what} cannot become JSON: {e}") from None


# ---------------------------------------------------------------------------
# log

_LEVELS = {
    "trace": _log.Level.TRACE,
    "debug": _log.Level.DEBUG,
    "info": _log.Level.INFO,
    "warn": _log.Level.WARN,
    "warning": _log.Level.WARN,
    "error": _log.Level.ERROR,
}


def _format(parts):
    return " ".join(p if isinstance(p, str) else str(p) for p in parts)


def log(level, message, *more):
    """Log one line at ``level`` (``'trace' | 'debug' | 'info' | 'warn' |
    'warning' | 'error'``, case-insensitive). Non-string parts are ``str()``'d
    and joined by spaces, like ``print``. Raises ``CapabilityDenied`` when
    logging is not granted."""
    if isinstance(level, _log.Level):
        wit_level = level
    else:
        wit_level = _LEVELS.get(str(level).lower())
        if wit_level is None:
            raise ValueError(
                f"unknown log level {level!r} (trace, debug, info, warn, warning, error)"
            )
    _host_call(_log.log, wit_level, _format((message,) + more))


def trace(*parts):
    """``log('trace', ...)``."""
    _host_call(_log.log, _log.Level.TRACE, _format(parts))


def debug(*parts):
    """``log('debug', ...)``."""
    _host_call(_log.log, _log.Level.DEBUG, _format(parts))


def info(*parts):
    """``log('info', ...)``."""
    _host_call(_log.log, _log.Level.INFO, _format(parts))


def warning(*parts):
    """``log('warn', ...)``."""
    _host_call(_log.log, _log.Level.WARN, _format(parts))


warn = warning


def error(*parts):
    """``log('error', ...)``."""
    _host_call(_log.log, _log.Level.ERROR, _format(parts))


# ---------------------------------------------------------------------------
# kv


class _Kv:
    """Key-value state in this plugin's namespace (``warden:plugin/kv``)."""

    __slots__ = ()

    def get(self, key):
        """The value as text (UTF-8; invalid sequences become U+FFFD), or None."""
        value = _host_call(_kv.get, str(key))
        return None if value is None else bytes(value).decode("utf-8", "replace")

    def get_bytes(self, key):
        """The value as ``bytes``, or None."""
        value = _host_call(_kv.get, str(key))
        return None if value is None else bytes(value)

    def set(self, key, value):
        """Store ``value``: a ``str`` (as UTF-8) or a bytes-like object."""
        if isinstance(value, str):
            data = value.encode("utf-8")
        elif isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
        else:
            raise TypeError(
                f"kv.set: the value must be str or bytes, not {type(value).__name__}"
                " (json.dumps it first)"
            )
        _host_call(_kv.set, str(key), data)

    def delete(self, key):
        """Remove the key; True when it existed."""
        return bool(_host_call(_kv.delete, str(key)))

    def list_keys(self, prefix=""):
        """The keys starting with ``prefix``, sorted."""
        return list(_host_call(_kv.list_keys, str(prefix)))

    def __repr__(self):
        return "<warden.kv>"


#: The kv capability: ``kv.get``, ``kv.get_bytes``, ``kv.set``, ``kv.delete``, ``kv.list_keys``.
kv = _Kv()


# ---------------------------------------------------------------------------
# host functions and events


def call(name, args=None):
    """Call the embedder's function ``name`` with ``args`` (JSON-able; None is
    ``null``) and return its parsed JSON result. Synchronous: do not ``await``
    it."""
    out = _host_call(_host.call, str(name), _to_json(args, "call: the arguments"))
    try:
        return _json.loads(out)
    except ValueError as e:
        raise HostError(f"host function `{name}` returned invalid JSON: {e}") from None


def emit(topic, payload=None):
    """Send an event on ``topic`` with ``payload`` (JSON-able; None is ``null``)."""
    _host_call(_events.emit, str(topic), _to_json(payload, "emit: the payload"))
