"""Reading designer YAML with positions, so every later error can say file:line:column.

PyYAML follows YAML 1.1, where `on`, `yes`, `no`, `off` are booleans and `20:00` is the integer
1200 — a trap in a format whose routing key is literally `on:` and whose opening hours are
times. This loader resolves plain scalars by the YAML 1.2 core schema instead (only
true/false are booleans; no sexagesimal numbers), always keeps mapping keys as strings, and
rejects duplicate keys instead of letting the last one win silently. Tabs used for indentation get
a hint of their own.

`load(text, filename)` returns a `Document`: the plain Python data plus a map from each value's
path (a tuple of keys and list indexes) to its `Location`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from voicebot.errors import FlowSyntaxError, Location, Problem

PathKey = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema implicit resolvers."""


_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:timestamp",
    re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
    list("0123456789"),
)


@dataclass(frozen=True)
class Document:
    data: Any
    positions: dict[PathKey, Location]
    file: str

    def where(self, path: PathKey) -> Location:
        """The location of `path`, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.positions:
                return self.positions[p]
            p = p[:-1]
        return self.positions.get((), Location(self.file, 1, 1))


def _loc(file: str, node: Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _syntax_error(file: str, exc: yaml.MarkedYAMLError, text: str) -> FlowSyntaxError:
    mark = exc.problem_mark or exc.context_mark
    loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
    problem = (exc.problem or str(exc)).strip()
    hint = ""
    if "'\\t'" in problem or "tab" in problem.lower():
        hint = "YAML indentation must use spaces, not tabs"
    elif mark is not None:
        line = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
        if "\t" in line:
            hint = "this line contains a tab; indent with spaces"
        elif "mapping values are not allowed" in problem:
            hint = "quote text that contains ': ' or check the indentation of this line"
        elif "could not find expected ':'" in problem:
            hint = "a key is missing its ':' or a quoted string is not closed"
    return FlowSyntaxError(Problem(loc, "", f"invalid YAML: {problem}", hint))


class _Builder:
    def __init__(self, loader: _Loader, file: str):
        self.loader = loader
        self.file = file
        self.positions: dict[PathKey, Location] = {}
        self.problems: list[Problem] = []

    def build(self, node: Node, path: PathKey) -> Any:
        self.positions[path] = _loc(self.file, node)
        if isinstance(node, MappingNode):
            self.loader.flatten_mapping(node)  # resolves `<<` merge keys
            out: dict[str, Any] = {}
            first_seen: dict[str, Location] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    self.problems.append(
                        Problem(_loc(self.file, key_node), _dotted(path), "keys must be plain text")
                    )
                    continue
                key = str(key_node.value)
                if key in first_seen:
                    self.problems.append(
                        Problem(
                            _loc(self.file, key_node),
                            _dotted((*path, key)),
                            f"duplicate key '{key}'",
                            f"first defined at line {first_seen[key].line}; "
                            "remove or rename one of them",
                        )
                    )
                    continue
                first_seen[key] = _loc(self.file, key_node)
                out[key] = self.build(value_node, (*path, key))
                # errors about a key point at the key, errors about its value at the value
                self.positions[(*path, key, "<key>")] = first_seen[key]
            return out
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)


def _dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


dotted = _dotted


def load(text: str, file: str = "<string>") -> Document:
    """Parse YAML text into a located `Document`; raises FlowSyntaxError."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise FlowSyntaxError(Problem(Location(file, 1, 1), "", "the file is empty"))
        builder = _Builder(loader, file)
        data = builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(file, exc, text) from None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises marked errors in practice
        raise FlowSyntaxError(Problem(Location(file), "", f"invalid YAML: {exc}")) from None
    finally:
        loader.dispose()
    if builder.problems:
        raise FlowSyntaxError(builder.problems)
    return Document(data, builder.positions, file)


def load_file(path: str | Path) -> Document:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FlowSyntaxError(Problem(Location(str(path)), "", "file not found")) from None
    except UnicodeDecodeError as exc:
        raise FlowSyntaxError(
            Problem(Location(str(path)), "", f"not UTF-8 text ({exc.reason})")
        ) from None
    return load(text, str(path))
