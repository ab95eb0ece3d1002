"""warden's Python engine: CPython 3.14 (componentize-py 0.25.1) behind the WIT
world ``warden:plugin/script-engine``.

It behaves like the JavaScript engine (adapters/js/engine) so the host treats
both alike: the same exports, the same ``script-error`` kinds, the same
``<kind>: <message>`` strings from ``run``.

Built by the warden-python crate's build.rs (the command line is in
adapters/python/src/componentize.rs), the same as::

    VIRTUAL_ENV= .venv/bin/componentize-py -d wit -w script-engine componentize app \\
        -p adapters/python/engine -p adapters/python -o target/engines/python-engine.wasm

componentize-py pre-initializes the component at build time by importing this
module; the snapshot is what each instance starts from.

Available modules
=================

Modules not imported at build time do not exist at run time (there is no file
system with the standard library in the component), so everything a script may
import is imported below, at top level. ``_warden_sandbox.AVAILABLE_MODULES``
lists them::

    abc array base64 bisect calendar collections contextlib copy csv
    dataclasses datetime decimal difflib enum fractions functools hashlib heapq
    html io itertools json logging math numbers operator pprint random re
    secrets statistics string struct textwrap time typing unicodedata
    urllib.parse uuid warden zlib

(plus their submodules that are loaded with them, e.g. ``collections.abc``, and
whatever the interpreter itself loaded: ``sys``, ``os``, ``types``, ``inspect``,
``traceback``, ...). Importing anything else raises ``ModuleNotFoundError``
(an ``ImportError``): "module 'numpy' is not available in the warden Python
sandbox; available: ...". Native packages such as numpy cannot be added (no
WASI builds). Pure-Python ones can be vendored (``pip install --target DIR``)
and added with another ``-p DIR``: for snippets they must also be imported
here; a baked plugin (below) can import them itself (``warden build FILE.py
--vendor DIR``), as it can any standard module, since it is imported at build
time.

``random`` is re-seeded from ``wasi:random`` on the first call in each
instance (it was seeded at build time, so the snapshot would otherwise give
every instance the same sequence). ``hash()`` of str/bytes uses the hash
secret fixed at build time. ``print`` and ``logging`` behave as in CPython:
they write to the guest's stdout and stderr, which the host captures (under
the output cap; flushed at the end of each call); use ``warden.log`` for the
log capability.

Snippets (``script.eval(source, input)``)
=========================================

``source`` is compiled as the module ``snippet`` (file name ``<snippet>``) and
executed in a fresh namespace holding the builtins and, pre-bound, the
``warden`` SDK: ``log``, ``kv``, ``call``, ``emit``, ``WardenError``,
``CapabilityDenied``, ``LimitExceeded``, ``InvalidArgument``, ``HostError`` and
``warden`` itself. ``__name__`` is ``"snippet"``, so an
``if __name__ == "__main__":`` block does not run. The entry point is the
callable ``run`` it defines, else ``main``; or, when the whole source is one
``lambda`` (``lambda i: i["x"] * 2``), that callable. A source that defines
neither and ends in an expression (one expression alone included) is a
**notebook cell** (``result = analyze(data)\nresult``): it runs at each
call, in a fresh namespace that also holds ``input`` (the call's input,
shadowing the builtin), and its last expression's value is the result. It is called with ``json.loads(input)`` (an empty input is
``None``), or with no argument when it takes none. An ``async def`` entry (or
any awaitable result) is driven with ``coro.send(None)`` until it returns:
there is no event loop (asyncio is not available), which is enough because
every warden capability is synchronous; a coroutine that yields something to
wait on (a future) can never finish and is ``stalled``. The result is
``json.dumps``'d compactly (``separators=(',', ':')``, non-ASCII kept, NaN and
Infinity refused); ``None`` is ``null``.

Errors (``script-error`` from eval, ``<kind>: <message>`` from run):

- ``compile``: ``line L, column C: SyntaxError: <msg>`` (1-based line and
  column, in characters, of the snippet's own source; IndentationError and
  TabError keep their names); ``define run(input)`` (or ``main``) when there is
  no entry point; ```run` is not callable (define run(input))`` when it is
  something else.
- ``thrown``: ``<Type>: <message>`` on the first line, then the standard
  traceback with the engine's and the SDK's frames removed (snippet frames
  show their source lines), e.g.::

      ZeroDivisionError: division by zero
      Traceback (most recent call last):
        File "<snippet>", line 2, in run
          return 1 / 0
                 ~~^~~
      ZeroDivisionError: division by zero

- ``denied``: the message of a ``CapabilityDenied`` that escaped the entry
  point (or top-level code): the host's ``<capability>: <what> is not granted``.
- ``serialization``: ``the input is not JSON: <msg>`` or ``the result cannot
  become JSON: <msg>`` (``Object of type set is not JSON serializable``).
- ``stalled``: an awaitable waited on something no one will resolve.

Any Python exception that escapes an export traps the instance in
componentize-py, so every export catches everything (``BaseException``) and
returns the world's ``Err``.

Baked plugins (``run``)
=======================

``warden build file.py`` adds a directory holding ``file.py`` as
``warden_plugin.py``; it is imported here at build time (so its top-level code
runs then, with no host: no capability calls at import time) and ``run(input)``
calls its ``run`` (or ``main``) exactly as eval calls a snippet's (tracebacks
name its file ``/2/warden_plugin.py``: componentize-py mounts the ``-p``
directories as ``/0``, ``/1``, ``/2``). A plugin without ``run``/``main``, or
whose import fails, fails the build. Without it,
``run`` returns ``no plugin: this engine has no baked-in script; use
script.eval``.

``wizer-initialize(source)``: componentize-py has already pre-initialized the
component, so with an empty source it does nothing and returns ok. A non-empty
source is compiled and executed as the module ``plugin`` (file ``<plugin>``)
and becomes the plugin ``run`` calls, replacing any ``warden_plugin``; its
errors are those of eval (compile / thrown / denied). That is what the host's
``bake`` (wasmtime-wizer over the component) would snapshot.
"""

# ---------------------------------------------------------------------------
# The modules scripts may import (pre-init: they are in the snapshot).

import abc
import array
import base64
import bisect
import calendar
import collections
import collections.abc
import contextlib
import copy
import csv
import dataclasses
import datetime
import decimal
import difflib
import enum
import fractions
import functools
import hashlib
import heapq
import html
import html.entities
import io
import itertools
import json
import logging
import math
import numbers
import operator
import pprint
import random
import re
import secrets
import statistics
import string
import struct
import textwrap
import time
import typing
import unicodedata
import urllib
import urllib.parse
import uuid
import zlib

# What the engine itself needs at run time, and what the modules above import
# lazily (at call time), which would fail at run time otherwise.
import ast
import builtins
import inspect
import keyword
import linecache
import sys
import tokenize
import traceback
import types

import _strptime  # datetime.strptime, time.strptime

for _name in (
    "_suggestions",  # "Did you mean ...?" in tracebacks
    # Codecs are looked up (imported) on first use.
    "encodings.ascii",
    "encodings.latin_1",
    "encodings.utf_8",
    "encodings.utf_8_sig",
    "encodings.utf_16",
    "encodings.utf_16_le",
    "encodings.utf_16_be",
    "encodings.utf_32",
    "encodings.cp1252",
    "encodings.cp437",
    "encodings.idna",
    "encodings.punycode",
    "encodings.unicode_escape",
    "encodings.raw_unicode_escape",
    "encodings.hex_codec",
    "encodings.base64_codec",
    "encodings.zlib_codec",
    "encodings.rot_13",
):
    try:
        __import__(_name)
    except ImportError:
        pass
del _name

# Every hash constructor (hashlib imports the builtin ones lazily).
for _algo in sorted(hashlib.algorithms_guaranteed):
    try:
        hashlib.new(_algo)
    except (ValueError, TypeError):
        pass
del _algo

import warden
import wit_world
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types as wit_types

try:
    import warden_plugin
except ModuleNotFoundError as _e:
    if _e.name != "warden_plugin":
        raise
    warden_plugin = None
    del _e

from _warden_sandbox import AVAILABLE_MODULES  # noqa: E402
from _warden_sandbox import install as _install_sandbox  # noqa: E402

SNIPPET_FILE = "<snippet>"
SNIPPET_MODULE = "snippet"
PLUGIN_FILE = "<plugin>"
PLUGIN_MODULE = "plugin"
NO_PLUGIN = "this engine has no baked-in script; use script.eval"

# Frames of these files are the engine's, not the script's: left out of tracebacks.
_ENGINE_FILES = frozenset(f for f in (globals().get("__file__"), warden.__file__) if f)

# The names every snippet (and wizer-initialize plugin) starts with.
_PRELUDE = {
    "warden": warden,
    "log": warden.log,
    "kv": warden.kv,
    "call": warden.call,
    "emit": warden.emit,
    "WardenError": warden.WardenError,
    "CapabilityDenied": warden.CapabilityDenied,
    "LimitExceeded": warden.LimitExceeded,
    "InvalidArgument": warden.InvalidArgument,
    "HostError": warden.HostError,
}


# ---------------------------------------------------------------------------
# Failures


class _Failure(Exception):
    """How a script failed: ``kind`` is a ``script-error`` case."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


_SCRIPT_ERRORS = {
    "compile": wit_types.ScriptError_Compile,
    "thrown": wit_types.ScriptError_Thrown,
    "denied": wit_types.ScriptError_Denied,
    "serialization": wit_types.ScriptError_Serialization,
    "stalled": wit_types.ScriptError_Stalled,
}


def _script_error(failure):
    return _SCRIPT_ERRORS[failure.kind](failure.message)


def _safe_str(value):
    try:
        return str(value)
    except BaseException:
        try:
            return object.__repr__(value)
        except BaseException:
            return "<unprintable>"


def _trim(te):
    """Drop the engine's frames from a TracebackException and its chain."""
    seen = set()
    todo = [te]
    while todo:
        t = todo.pop()
        if t is None or id(t) in seen:
            continue
        seen.add(id(t))
        t.stack[:] = [f for f in t.stack if f.filename not in _ENGINE_FILES]
        todo.append(t.__cause__)
        todo.append(t.__context__)
        todo.extend(getattr(t, "exceptions", None) or ())


# Exception classes shown without their module, as Python's traceback does for builtins.
_SHORT_NAMES = frozenset(("builtins", "__main__", "warden", SNIPPET_MODULE, PLUGIN_MODULE))


def _thrown(exc):
    """``<Type>: <message>`` then the trimmed traceback."""
    cls = type(exc)
    name = cls.__qualname__
    if cls.__module__ not in _SHORT_NAMES:
        name = f"{cls.__module__}.{name}"
    if isinstance(exc, SyntaxError):
        message = exc.msg or ""
        if exc.lineno:
            message += f" ({exc.filename or '?'}, line {exc.lineno})"
    else:
        message = _safe_str(exc)
    head = f"{name}: {message}" if message else name
    try:
        te = traceback.TracebackException.from_exception(exc)
        _trim(te)
        body = "".join(te.format()).rstrip()
        return f"{head}\n{body}"
    except BaseException:
        return head


def _caught(exc):
    """The failure for an exception escaping the script."""
    if isinstance(exc, _Failure):
        return exc
    if isinstance(exc, warden.CapabilityDenied):
        return _Failure("denied", _safe_str(exc))
    return _Failure("thrown", _thrown(exc))


# ---------------------------------------------------------------------------
# Loading and calling scripts


class _Loaded:
    __slots__ = ("entry", "module")

    def __init__(self, entry, module):
        self.entry = entry
        self.module = module


def _compile(source, filename, mode="exec"):
    try:
        return compile(source, filename, mode, dont_inherit=True)
    except SyntaxError as e:
        msg = e.msg or "invalid syntax"
        # Positions are 1-based characters; an error at the end of input can
        # point one past the last line.
        if e.lineno:
            where = f"line {e.lineno}, column {e.offset or 1}: "
        else:
            where = ""
        raise _Failure("compile", f"{where}{type(e).__name__}: {msg}") from None
    except (ValueError, OverflowError, MemoryError, RecursionError) as e:
        raise _Failure("compile", f"{type(e).__name__}: {_safe_str(e)}") from None


def _expression(source, filename):
    """The code of ``source`` in eval mode when it is one expression, else None."""
    try:
        return compile(source, filename, "eval", dont_inherit=True)
    except BaseException:
        return None


def _cell(source, filename):
    """A notebook cell: the code of its statements but the last, and of its
    last one, an expression (its value is the result); None when ``source``
    defines ``run`` or ``main`` or does not end in an expression."""
    try:
        tree = ast.parse(source, filename)
    except BaseException:
        return None
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return None
    if len(tree.body) == 1 and isinstance(tree.body[0].value, ast.Lambda):
        return None  # `lambda i: …`: the entry itself
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            names = [node.target.id] if isinstance(node.target, ast.Name) else []
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [(a.asname or a.name).split(".")[0] for a in node.names]
        else:
            names = []
        if "run" in names or "main" in names:
            return None
    body = compile(ast.Module(body=tree.body[:-1], type_ignores=[]), filename, "exec",
                   dont_inherit=True)
    last = compile(ast.Expression(body=tree.body[-1].value), filename, "eval", dont_inherit=True)
    return body, last


def _cell_entry(cell, filename, module_name):
    """The entry of a cell: each call runs it in a fresh namespace holding
    the prelude and ``input`` (the call's input); the last expression's
    value is the result."""
    body, last = cell

    def run_cell(input):
        module = types.ModuleType(module_name)
        module.__dict__.update(_PRELUDE)
        module.__dict__["__builtins__"] = builtins
        module.__dict__["__file__"] = filename
        module.__dict__["input"] = input
        sys.modules[module_name] = module
        exec(body, module.__dict__)
        return eval(last, module.__dict__)

    return run_cell


def _load(source, filename, module_name):
    """Compile and execute ``source`` as ``module_name``; find its entry (a
    notebook cell runs at each call instead)."""
    code = _compile(source, filename)
    expr = _expression(source, filename)
    cell = _cell(source, filename)
    # Source lines for tracebacks (mtime None: linecache never re-reads it).
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[filename] = (len(source), None, lines, filename)

    if cell is not None:
        return _Loaded(_cell_entry(cell, filename, module_name), None)

    module = types.ModuleType(module_name)
    module.__dict__.update(_PRELUDE)
    module.__dict__["__builtins__"] = builtins
    module.__dict__["__file__"] = filename
    # Registered so dataclasses, enum, typing and pickle can find it.
    sys.modules[module_name] = module
    ns = module.__dict__
    try:
        if expr is not None:
            value = _settle(eval(expr, ns), "the expression")
        else:
            exec(code, ns)
            value = None
    except BaseException as e:
        raise _caught(e) from None
    return _Loaded(_find_entry(ns, value), module)


def _find_entry(ns, value=None):
    for name in ("run", "main"):
        if name in ns:
            entry = ns[name]
            if not callable(entry):
                raise _Failure("compile", f"`{name}` is not callable (define run(input))")
            return entry
    if value is not None and callable(value):
        return value
    raise _Failure(
        "compile",
        "define run(input), or end the snippet with an expression (a notebook cell:"
        " its value is the result)",
    )


def _takes_no_argument(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL):
            return False
    return True


def _settle(value, what):
    """Drive an awaitable to completion without an event loop."""
    if not inspect.isawaitable(value):
        return value
    it = value.__await__() if not inspect.iscoroutine(value) else value
    try:
        while True:
            yielded = it.send(None)
            if yielded is not None:
                try:
                    it.close()
                except BaseException:
                    pass
                raise _Failure(
                    "stalled",
                    f"{what} awaited {_safe_str(type(yielded).__name__)}, which nothing"
                    " can resolve: there is no event loop (warden calls are synchronous;"
                    " asyncio is not available)",
                )
    except StopIteration as stop:
        return stop.value


def _call(loaded, input):
    """``json.loads(input)`` -> entry -> settle -> ``json.dumps``."""
    if input.strip():
        try:
            arg = json.loads(input)
        except ValueError as e:
            raise _Failure("serialization", f"the input is not JSON: {e}") from None
    else:
        arg = None
    try:
        if _takes_no_argument(loaded.entry):
            result = loaded.entry()
        else:
            result = loaded.entry(arg)
        result = _settle(result, "the entry point")
    except BaseException as e:
        raise _caught(e) from None
    try:
        return json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as e:
        raise _Failure("serialization", f"the result cannot become JSON: {e}") from None
    except BaseException as e:
        # A __str__/default hook of the result's objects raised.
        raise _caught(e) from None


# ---------------------------------------------------------------------------
# Per-instance state

_plugin = None
_seeded = False


def _begin():
    """Once per instance, at its first call (not in the build-time snapshot)."""
    global _seeded
    if not _seeded:
        _seeded = True
        random.seed()


def _end():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def _guarded(fn, at_build_time=False):
    """Run ``fn``; any exception becomes a ``_Failure``."""
    try:
        if not at_build_time:
            _begin()
        return fn()
    except _Failure:
        raise
    except BaseException as e:
        raise _Failure("thrown", _thrown(e)) from None
    finally:
        _end()


if warden_plugin is not None:
    try:
        # Keep the plugin's source for tracebacks (no file system at run time).
        _plugin_file = getattr(warden_plugin, "__file__", None)
        if _plugin_file:
            with open(_plugin_file, encoding="utf-8") as _f:
                _src = _f.read()
            _lines = _src.splitlines(keepends=True)
            linecache.cache[_plugin_file] = (len(_src), None, _lines, _plugin_file)
            del _f, _src, _lines
        del _plugin_file
    except OSError:
        pass
    try:
        _plugin = _Loaded(_find_entry(vars(warden_plugin)), warden_plugin)
    except _Failure as _f:
        # Fails the build with this message.
        raise RuntimeError(f"the baked plugin (warden_plugin.py): {_f.message}") from None


# ---------------------------------------------------------------------------
# Exports


class WitWorld(wit_world.WitWorld):
    def run(self, input: str) -> str:
        try:
            if _plugin is None:
                raise _Failure("no plugin", NO_PLUGIN)
            return _guarded(lambda: _call(_plugin, input))
        except _Failure as f:
            raise Err(f"{f.kind}: {f.message}")
        except BaseException as e:  # never trap
            raise Err(f"thrown: {type(e).__name__}: {_safe_str(e)}")

    def wizer_initialize(self, source: str) -> None:
        global _plugin
        try:
            if source:
                # Build time (a snapshot follows): do not seed random here.
                _plugin = _guarded(
                    lambda: _load(source, PLUGIN_FILE, PLUGIN_MODULE), at_build_time=True
                )
            return None
        except _Failure as f:
            raise Err(_script_error(f))
        except BaseException as e:
            raise Err(wit_types.ScriptError_Thrown(f"{type(e).__name__}: {_safe_str(e)}"))


class Script(exports.Script):
    def eval(self, source: str, input: str) -> str:
        try:
            return _guarded(
                lambda: _call(_load(source, SNIPPET_FILE, SNIPPET_MODULE), input)
            )
        except _Failure as f:
            raise Err(_script_error(f))
        except BaseException as e:
            raise Err(wit_types.ScriptError_Thrown(f"{type(e).__name__}: {_safe_str(e)}"))


# ---------------------------------------------------------------------------
# Last: imports of anything else fail with a clear message (_warden_sandbox).

_install_sandbox()


# ---------------------------------------------------------------------------
# The garbage collector, for a fresh instance per call. Everything alive now
# (the interpreter, the imported standard library, this module) is in the
# snapshot: freezing it keeps collections from walking it, which would write
# a GC header in every container object of the snapshot, so every page of it
# would have to be copied for the instance and reset after it. A higher
# first threshold lets a short call finish without a collection; long calls
# still collect.
import gc  # noqa: E402

gc.collect()
gc.freeze()
gc.set_threshold(20_000)
