"""YAML for artifacts: plain data only, written readably and read defensively.

Reading has ``yaml.safe_load`` semantics minus everything plain data does not need: no anchors or
aliases (no "billion laughs"), at most :data:`MAX_NODES` values, no merge keys, no tags beyond
JSON's types, no duplicate keys (a reviewer reads the first, PyYAML would keep the last), no
integers longer than a few dozen digits.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yaml

from promptc.exceptions import ArtifactError

__all__ = ["MAX_NODES", "Dumper", "Loader"]


class Dumper(yaml.SafeDumper):
    """Plain data out: no anchors, list items indented under their key."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # indent list items under their key


# Characters YAML would fold or drop in plain and block styles (NEL, LS, PS, CR, controls):
# strings holding any are written double-quoted, where they are escaped and survive a reload.
_NEEDS_QUOTES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = '"' if _NEEDS_QUOTES.search(data) else ("|" if "\n" in data else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


Dumper.add_representer(str, _str_representer)


# The plain-data tags; explicit or implicit others (!!binary, !!set, !!timestamp, !!python/...)
# have no constructor below and are refused as invalid YAML.
_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "str", "seq", "map")
}


_MAX_NUMBER_CHARS = 40
# Values (scalars, lists, mappings) an artifact may hold: a compile writes hundreds to a few
# thousand; at the limit, reading stops after ~3 s and ~100 MiB.
MAX_NODES = 100_000


class Loader(yaml.SafeLoader):
    """``yaml.safe_load`` semantics, minus anchors, aliases, merge keys, duplicate keys, huge
    integers and every tag but JSON's types (see the module docstring)."""

    yaml_constructors: ClassVar[dict[Any, Any]] = {
        tag: constructor
        for tag, constructor in yaml.SafeLoader.yaml_constructors.items()
        if tag in _PLAIN_TAGS or tag is None
    } | {"tag:yaml.org,2002:int": lambda loader, node: loader.construct_yaml_int(node)}

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._nodes = 0

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        # A reviewer reads the first of two equal keys, PyYAML keeps the last: refuse both.
        seen: set[Any] = set()
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ArtifactError(
                    f"artifact uses a YAML merge key '<<' at line {line}; artifacts are plain data "
                    "and may not merge mappings"
                )
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # an unhashable key: the base class refuses it
            if duplicate:
                raise ArtifactError(
                    f"duplicate key {str(key)[:60]!r} at line {line}; a YAML mapping may hold "
                    "each key once (a reader sees the first, the loader would keep the last)"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        if len(node.value) > _MAX_NUMBER_CHARS:
            raise ArtifactError(
                f"a {len(node.value)}-character integer at line {node.start_mark.line + 1}; "
                f"artifact numbers have at most {_MAX_NUMBER_CHARS} digits"
            )
        return int(super().construct_yaml_int(node))

    def compose_node(self, parent: Any, index: Any) -> Any:
        # PyYAML builds the whole node tree before any check (about 1 KiB and 30 us per node in
        # the pure-Python loader): 16 MiB of "[0,0,...]" would take minutes and gigabytes.
        self._nodes += 1
        if self._nodes > MAX_NODES:
            line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
            raise ArtifactError(
                f"artifact has over {MAX_NODES} YAML values (at line {line}); a compiled "
                "artifact has hundreds to a few thousand, so this is not one"
            )
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise ArtifactError(
                f"artifact uses a YAML alias at line {event.start_mark.line + 1}; artifacts "
                "are plain data and may not use anchors or aliases"
            )
        return super().compose_node(parent, index)
