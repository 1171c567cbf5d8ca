"""A TOML writer for the subset kubelab's node configs use: tables, strings, bools, ints, string arrays.

Python reads TOML (tomllib) but does not write it, and string formatting
would let a quote or newline in a spec value (a mirror URL, a registry name)
end a string and add keys of its own. Every string and every key that is not
a bare word goes out as a TOML basic string with TOML's escapes, so what
tomllib reads back is exactly what went in.
"""

from __future__ import annotations

import re
from typing import Any

from kubelab.errors import KubelabError

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
# What a basic string may not hold literally: the escapes above, the other
# control characters and DEL (written as \\uXXXX), and lone surrogates (refused).
_SPECIAL = re.compile(r'["\\\x00-\x1f\x7f\ud800-\udfff]')


class TomlValueError(KubelabError):
    """A value kubelab was asked to write has no TOML form."""


def dumps(doc: dict[str, Any]) -> str:
    """The document as TOML: a table's own keys first, then its sub-tables under `[dotted.header]`s."""
    lines: list[str] = []
    _table(doc, (), lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(table: dict[str, Any], path: tuple[str, ...], lines: list[str]) -> None:
    plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
    # A table holding only sub-tables needs no header of its own: theirs define it.
    if path and (plain or not table):
        lines += ["", f"[{'.'.join(_key(k, path) for k in path)}]"]
    for key, value in plain.items():
        lines.append(f"{_key(key, path)} = {_value(value, (*path, key))}")
    for key, value in table.items():
        if isinstance(value, dict):
            _table(value, (*path, key), lines)


def _key(key: str, path: tuple[str, ...]) -> str:
    if not isinstance(key, str):
        raise TomlValueError(f"TOML key {key!r} under {'.'.join(path) or 'the top level'} is not a string")
    return key if _BARE_KEY.fullmatch(key) else _string(key, path)


def _value(value: Any, path: tuple[str, ...]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value, path)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(_string(v, path) for v in value) + "]"
    raise TomlValueError(f"{'.'.join(path)}: cannot write {type(value).__name__} {value!r} as TOML "
                         "(only strings, bools, ints, string lists and tables)")


def _string(text: str, path: tuple[str, ...]) -> str:
    def escape(match: re.Match) -> str:
        char = match.group()
        if "\ud800" <= char <= "\udfff":
            raise TomlValueError(f"{'.'.join(path)}: {text!r} holds a lone surrogate, which TOML cannot hold. "
                                 "Fix: correct that value in the lab spec")
        return _ESCAPES.get(char) or f"\\u{ord(char):04x}"
    return '"' + _SPECIAL.sub(escape, text) + '"'
