"""kubelab's TOML writer, proven by reading its output back with Python's own TOML reader."""

import tomllib

import pytest

from kubelab import toml

HOSTILE = [
    'a"b', "a'b", "line\nbreak", "cr\rlf", "tab\there", "back\\slash", "ends with \\", "]", "[table]",
    'x"\n[evil]\nkey = "pwned', "\x00nul", "\x1b[31mescape", "\x7fdel", "\x08\x0c", "ünïcödé ☃ 𝄞", "", " ",
    '"""', "'''", "#not a comment", "= \"=\"",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_round_trip_as_values_keys_and_array_items(value):
    doc = {"s": value, value: {"nested": value, "list": [value, "plain"]}, "t": {value: True}}
    assert tomllib.loads(toml.dumps(doc)) == doc


def test_a_hostile_value_cannot_add_keys_or_tables():
    text = toml.dumps({"server": 'x"\n[host."evil"]\nskip_verify = true\nz = "'})
    assert list(tomllib.loads(text)) == ["server"]


def test_tables_nest_under_dotted_headers_with_their_own_keys_first():
    doc = {"version": 3, "plugins": {"io.containerd.x": {"on": False, "sub": {"k": "v"}}, "empty": {}}}
    text = toml.dumps(doc)
    assert text == ('version = 3\n\n[plugins."io.containerd.x"]\non = false\n\n'
                    '[plugins."io.containerd.x".sub]\nk = "v"\n\n[plugins.empty]\n')
    assert tomllib.loads(text) == doc


@pytest.mark.parametrize("value, words", [
    (1.5, "float"), (None, "NoneType"), ([1, 2], "list"), ("\ud800", "lone surrogate"),
])
def test_values_toml_cannot_hold_are_refused_naming_where(value, words):
    with pytest.raises(toml.TomlValueError) as err:
        toml.dumps({"table": {"field": value}})
    assert "table.field" in str(err.value) and words in str(err.value)
