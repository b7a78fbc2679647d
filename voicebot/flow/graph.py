"""A flow as a graph: every route between steps, for coverage, lint and drawing.

`edges(flow)` lists each way control can pass from one step to another, labelled with why
(`next`, `on: 404`, an option name, `when: slots.more`, `global operator`, `exhausted`, `error`,
`frustrated`: the escalation rule).
`mermaid(flow)` and `dot(flow)` draw it.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicebot.flow.loader import step_targets
from voicebot.flow.schema import Flow

START = "<start>"


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    label: str


def edges(flow: Flow) -> list[Edge]:
    out: list[Edge] = [Edge(START, flow.start, "start")]
    if flow.on_answer is not None:
        for kind in ("machine", "human"):
            target = getattr(flow.on_answer, kind)
            if target:
                out.append(Edge(START, target, f"answered by {kind}"))
    retries = flow.defaults.retries
    for step_id, step in flow.steps.items():
        for path, target in step_targets(step):
            if path[0] == "next":
                branch = step.next[path[1]] if isinstance(step.next, list) else None  # type: ignore[index]
                label = f"when {branch.when}" if branch is not None and branch.when else "next"
            elif path[0] == "on":
                label = str(path[1])
            else:
                label = str(path[2])  # menu option name
            out.append(Edge(step_id, target, label))
        listening = step.kind in ("ask", "menu", "llm")
        if listening:
            if "exhausted" not in step.on and retries.exhausted:
                out.append(Edge(step_id, retries.exhausted, "exhausted"))
            if step.globals:
                for name, command in flow.globals.items():
                    if command.goto:
                        out.append(Edge(step_id, command.goto, f"global {name}"))
        rule = step.escalation or flow.escalation  # checked after each caller turn
        if step.kind in ("ask", "menu", "answer") and rule and rule.frustrated:
            out.append(Edge(step_id, rule.frustrated.goto, "frustrated"))
        if flow.defaults.on_error and "error" not in step.on and step.kind in ("http", "transfer"):
            out.append(Edge(step_id, flow.defaults.on_error, "error"))
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for e in out:
        if (e.src, e.dst, e.label) not in seen:
            seen.add((e.src, e.dst, e.label))
            unique.append(e)
    return unique


def successors(flow: Flow) -> dict[str, set[str]]:
    succ: dict[str, set[str]] = {START: set(), **{s: set() for s in flow.steps}}
    for e in edges(flow):
        succ.setdefault(e.src, set()).add(e.dst)
    return succ


def reachable(flow: Flow) -> set[str]:
    succ = successors(flow)
    seen: set[str] = set()
    todo = [START]
    while todo:
        node = todo.pop()
        for nxt in succ.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _node_label(flow: Flow, step_id: str) -> str:
    step = flow.steps[step_id]
    detail = step.kind
    if step.kind == "call":
        detail = f"call {step.call}"
    elif step.kind == "transfer" and step.transfer is not None:
        detail = f"transfer {step.transfer.to}"
    return f"{step_id}: {detail}"


def _safe(step_id: str) -> str:
    return "s_" + "".join(c if c.isalnum() else "_" for c in step_id)


def _quote(text: str) -> str:
    return text.replace('"', "#quot;")


def mermaid(flow: Flow) -> str:
    lines = ["flowchart TD", f'  {_safe(START)}(("{flow.name}"))']
    for step_id, step in flow.steps.items():
        label = _quote(_node_label(flow, step_id))
        shape = (
            ("([", "])")
            if step.kind in ("hangup", "return")
            else (("{{", "}}") if step.kind in ("ask", "menu") else ("[", "]"))
        )
        lines.append(f'  {_safe(step_id)}{shape[0]}"{label}"{shape[1]}')
    for e in edges(flow):
        lines.append(f'  {_safe(e.src)} -->|"{_quote(e.label)}"| {_safe(e.dst)}')
    return "\n".join(lines) + "\n"


def dot(flow: Flow) -> str:
    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"digraph {q(flow.name)} {{", "  rankdir=TB;", f"  {q(START)} [shape=circle];"]
    for step_id, step in flow.steps.items():
        shape = (
            "diamond"
            if step.kind in ("ask", "menu")
            else ("doublecircle" if step.kind in ("hangup", "return") else "box")
        )
        lines.append(f"  {q(step_id)} [shape={shape}, label={q(_node_label(flow, step_id))}];")
    for e in edges(flow):
        lines.append(f"  {q(e.src)} -> {q(e.dst)} [label={q(e.label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
