"""Reading designer YAML with positions, so every later error can say file:line:column.

PyYAML follows YAML 1.1, where `on`, `yes`, `no`, `off` are booleans and `20:00` is the integer
1200 — a trap in a format whose routing key is literally `on:` and whose opening hours are
times. This loader resolves plain scalars by the YAML 1.2 core schema instead (only
true/false are booleans; no sexagesimal numbers), always keeps mapping keys as strings, and
rejects duplicate keys instead of letting the last one win silently. Tabs used for indentation get
a hint of their own.

Limits (`Limits`, from settings `limits:`) keep a hostile or broken file from eating the machine:
the file's size is checked before it is read; while composing, the nesting depth, the number of
aliases and the number of values the document expands to (an alias counts as everything it
stands for) are counted, so a 380-byte "billion laughs" alias bomb is refused in milliseconds,
located at the alias or value that crossed the limit. A recursive alias is refused too.

`load(text, filename)` returns a `Document`: the plain Python data plus a map from each value's
path (a tuple of keys and list indexes) to its `Location`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from voicebot.errors import FlowSyntaxError, Location, Problem

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Limits:
    """How big a flow file may be; the defaults are far above any real flow."""

    file_bytes: int = 1_000_000
    aliases: int = 100
    depth: int = 50
    values: int = 100_000  # scalars, lists and maps once every alias is expanded


class _LimitExceeded(Exception):
    def __init__(self, mark: Any, message: str, hint: str):
        self.mark, self.message, self.hint = mark, message, hint


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema implicit resolvers, composing within `Limits`."""

    def __init__(self, stream: str, limits: Limits = Limits()):
        super().__init__(stream)
        self.limits = limits
        self.alias_count = 0
        self.depth = 0
        self.sizes: dict[int, int] = {}  # id(node) -> values it expands to; absent = open

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        limits = self.limits
        if self.check_event(AliasEvent):
            mark = self.peek_event().start_mark
            self.alias_count += 1
            if self.alias_count > limits.aliases:
                raise _LimitExceeded(
                    mark,
                    f"more than {limits.aliases} aliases",
                    "a flow needs few aliases (*name); raise limits.yaml_aliases if it is real",
                )
            node = super().compose_node(parent, index)
            if id(node) not in self.sizes:
                raise _LimitExceeded(
                    mark, "recursive alias", "an alias cannot point into its own anchor"
                )
            return node
        mark = self.peek_event().start_mark
        self.depth += 1
        if self.depth > limits.depth:
            raise _LimitExceeded(
                mark,
                f"nested more than {limits.depth} levels deep",
                "flatten the structure; raise limits.yaml_depth if it is real",
            )
        node = super().compose_node(parent, index)
        self.depth -= 1
        if node is None:
            return None
        if isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, SequenceNode):
            children = list(node.value)
        else:
            children = []
        size = 1 + sum(self.sizes.get(id(c), 1) for c in children)
        if size > limits.values:
            raise _LimitExceeded(
                node.start_mark,
                f"expands to more than {limits.values} values",
                "aliases (*name) that repeat other aliases multiply; raise limits.yaml_values "
                "if the flow is real",
            )
        self.sizes[id(node)] = size
        return node


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


def load(text: str, file: str = "<string>", limits: Limits = Limits()) -> Document:
    """Parse YAML text into a located `Document`; raises FlowSyntaxError."""
    loader = _Loader(text, limits)
    try:
        node = loader.get_single_node()
        if node is None:
            raise FlowSyntaxError(Problem(Location(file, 1, 1), "", "the file is empty"))
        builder = _Builder(loader, file)
        data = builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(file, exc, text) from None
    except _LimitExceeded as exc:
        loc = Location(file, exc.mark.line + 1, exc.mark.column + 1)
        raise FlowSyntaxError(Problem(loc, "", f"refused: {exc.message}", exc.hint)) from None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises marked errors in practice
        raise FlowSyntaxError(Problem(Location(file), "", f"invalid YAML: {exc}")) from None
    finally:
        loader.dispose()
    if builder.problems:
        raise FlowSyntaxError(builder.problems)
    return Document(data, builder.positions, file)


def load_file(path: str | Path, limits: Limits = Limits()) -> Document:
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(limits.file_bytes + 1)  # never more than the limit, whatever the file
    except FileNotFoundError:
        raise FlowSyntaxError(Problem(Location(str(path)), "", "file not found")) from None
    if len(data) > limits.file_bytes:
        raise FlowSyntaxError(
            Problem(
                Location(str(path)),
                "",
                f"refused: larger than {limits.file_bytes} bytes",
                "a flow is a few kilobytes; split it into subflows, or raise limits.flow_bytes",
            )
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlowSyntaxError(
            Problem(Location(str(path)), "", f"not UTF-8 text ({exc.reason})")
        ) from None
    return load(text, str(path), limits)
