"""`voicebot flow check|test|chat|graph|schema`: the designers' commands."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voicebot.errors import FlowError, FlowValidationError, Problem, VoicebotError


def problems_out(problems: Sequence[Problem]) -> None:
    for p in problems:
        print(p, file=sys.stderr)


def pairs(items: Sequence[str], what: str) -> dict[str, str]:
    """NAME=VALUE options (`--env`, `--contact`) as a dict."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise VoicebotError(f"{what} {item!r}: expected NAME=VALUE")
        out[key] = value
    return out


def add_arguments(sub: Any) -> None:
    flow = sub.add_parser("flow", help="write, check, test and explore dialog flows")
    fsub = flow.add_subparsers(dest="flow_command", required=True)

    p = fsub.add_parser("check", help="validate flows (and knowledge files), report warnings")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--strict", action="store_true", help="fail on warnings too")
    p.add_argument("--audio-dir", help="where {audio: file} prompts live (default: settings)")
    p.set_defaults(func=cmd_check)

    p = fsub.add_parser("test", help="run flow test files (*.test.yaml)")
    p.add_argument("files", nargs="+", metavar="FILE", help="test files or directories")
    p.add_argument("-v", "--verbose", action="store_true", help="list steps never visited")
    p.set_defaults(func=cmd_test)

    p = fsub.add_parser("chat", help="talk to a flow in text")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--clock", help="the call's start time, ISO 8601 (default: now)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--http-fixtures", metavar="TEST.yaml", help="answer HTTP from a test file")
    p.add_argument("--direction", choices=["inbound", "outbound"], default="inbound")
    p.add_argument("--contact", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--answer", choices=["human", "machine"], default="human")
    p.set_defaults(func=cmd_chat)

    p = fsub.add_parser("graph", help="draw a flow (Mermaid; --dot for Graphviz)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--dot", action="store_true")
    p.set_defaults(func=cmd_graph)

    p = fsub.add_parser("schema", help="print the JSON Schema of the flow format")
    p.set_defaults(func=cmd_schema)


# -- flow check ------------------------------------------------------------------------------
def _espeak_voices() -> list[str] | None:
    """The voices a flow may name, or None when espeak-ng is not installed here."""
    from voicebot.errors import SpeechError
    from voicebot.speech.synthesizer import EspeakSynthesizer

    try:
        return EspeakSynthesizer().voices()
    except SpeechError:
        return None


def _check_knowledge(path: str, limits: Any) -> bool | None:
    """A knowledge file (or a quality rules file) given to `flow check` (what `load_flow`
    refused as a flow): its located errors, or ok. True when ok, False with errors, None when
    the file is neither. Only files refused as flows are read again, so a large flow is parsed
    once."""
    from voicebot.flow import source
    from voicebot.flow.knowledge_file import is_knowledge_file, load_knowledge
    from voicebot.flow.quality_file import is_quality_file, load_rules

    try:
        doc = source.load_file(path, limits)
        if is_quality_file(doc):
            rules = load_rules(path, doc=doc)
            print(f"{path}: ok (0 error(s), 0 warning(s)); quality rules, {len(rules.rules)} rules")
            return True
        if not is_knowledge_file(doc):
            return None
        kb = load_knowledge(Path(path), limits=limits, doc=doc)
    except FlowError as exc:
        problems_out(exc.problems)
        print(f"{path}: {len(exc.problems)} error(s)")
        return False
    print(f"{path}: ok (0 error(s), 0 warning(s)); knowledge file, {len(kb.entries)} entries")
    return True


def _rules_beside(path: str, limits: Any) -> list[Problem]:
    """The located errors of the flow's quality rules (`NAME.qa.yaml` beside it), if any."""
    from voicebot.flow.quality_file import load_rules, rules_beside

    rules = rules_beside(path)
    if rules is None:
        return []
    try:
        load_rules(rules, limits)
    except FlowError as exc:
        return exc.problems
    return []


def cmd_check(args: argparse.Namespace) -> int:
    from voicebot.flow.lint import lint
    from voicebot.flow.loader import load_flow
    from voicebot.settings import load_settings

    settings = load_settings()
    failed = False
    for path in args.files:
        try:
            loaded = load_flow(path, settings.limits.flow())
        except FlowValidationError as exc:
            knowledge = _check_knowledge(path, settings.limits.flow())
            if knowledge is not None:
                failed = failed or not knowledge
                continue
            problems_out(exc.problems)
            print(f"{path}: {len(exc.problems)} error(s)")
            failed = True
            continue
        except FlowError as exc:
            problems_out(exc.problems)
            print(f"{path}: {len(exc.problems)} error(s)")
            failed = True
            continue
        audio_dir = Path(args.audio_dir) if args.audio_dir else settings.audio_assets_dir
        findings = lint(
            loaded,
            audio_dir=audio_dir,
            voices=_espeak_voices(),
            llm_endpoint=settings.llm.endpoint().configured,
        )
        findings += _rules_beside(path, settings.limits.flow())
        errors = [f for f in findings if f.severity == "error"]
        warnings = [f for f in findings if f.severity != "error"]
        problems_out(errors + warnings)
        if errors or (args.strict and warnings):
            failed = True
        status = "ok" if not errors else "errors"
        print(f"{path}: {status} ({len(errors)} error(s), {len(warnings)} warning(s))")
    return 1 if failed else 0


# -- flow test -------------------------------------------------------------------------------
def cmd_test(args: argparse.Namespace) -> int:
    from voicebot.flow.flowtests import run_files
    from voicebot.settings import load_settings

    files: list[Path] = []
    for name in args.files:
        p = Path(name)
        files.extend(sorted(p.glob("*.test.yaml")) if p.is_dir() else [p])
    report = run_files(files, transfer_allow=tuple(load_settings().transfers.allow))
    problems_out(report.problems)
    current = None
    for r in report.results:
        if r.file != current:
            current = r.file
            print(r.file)
        print(f"  {'PASS' if r.passed else 'FAIL'}  {r.name}")
        if not r.passed:
            print(f"        {r.failure}")
    for cov in report.coverage.values():
        print(cov.summary())
        if args.verbose and cov.missed():
            print(f"  steps never visited: {', '.join(cov.missed())}")
    passed = sum(r.passed for r in report.results)
    failed = len(report.results) - passed
    print(
        f"flow tests: {passed} passed, {failed} failed"
        + (f", {len(report.problems)} file error(s)" if report.problems else "")
    )
    return 0 if report.ok and report.results else 1


# -- flow chat -------------------------------------------------------------------------------
def cmd_chat(args: argparse.Namespace) -> int:
    from voicebot.flow.backend import HttpBackend, HttpxBackend
    from voicebot.flow.completions import OpenAIClient
    from voicebot.flow.flowtests import load_test_file, mock_backend
    from voicebot.flow.loader import load_flow
    from voicebot.flow.simulator import Line, TextCall
    from voicebot.settings import load_settings

    settings = load_settings()
    loaded = load_flow(args.file, settings.limits.flow())
    http: HttpBackend = HttpxBackend(settings.http.limits())
    env = settings.flow_environment()
    if args.http_fixtures:
        fixtures, _ = load_test_file(Path(args.http_fixtures))
        http = mock_backend(fixtures.http, [])
        env.update(fixtures.env)
    env.update(pairs(args.env, "--env"))
    clock = dt.datetime.fromisoformat(args.clock) if args.clock else dt.datetime.now().astimezone()
    interactive = sys.stdin.isatty()

    def show(line: Line) -> None:
        if line.who == "bot":
            print(f"bot    [{line.step}] {line.text}")
        elif line.who == "event":
            print(f"       ({line.text})")
        elif not interactive:  # echo the script so the transcript reads as a conversation
            label = {"caller": "caller", "keys": "keys", "silence": "caller"}[line.who]
            text = "(silence)" if line.who == "silence" else line.text
            print(f"{label:<6} {text}")

    call = TextCall(
        loaded,
        http=http,
        clock=clock,
        env=env,
        audio_dir=settings.audio_assets_dir,
        direction=args.direction,
        contact=pairs(args.contact, "--contact"),
        answered_by=args.answer,
        currency=settings.currency,
        locale=settings.locale,
        on_line=show,
        transfer_allow=tuple(settings.transfers.allow),
        model=OpenAIClient(settings.llm.endpoint()) if settings.llm.endpoint().configured else None,
        llm=settings.llm.options(),
    )
    if interactive:
        print(
            "Talk to the bot. Type words to speak, #123 for keys, an empty line for silence, "
            "/quit to hang up."
        )
    call.start()
    slots_shown: dict[str, object] = {}
    masked = call.engine.redactor.slots  # `sensitive: true` slots are not shown
    while not call.ended:
        try:
            raw = input("you> " if interactive else "")
        except EOFError:
            print("(end of script: caller hangs up)")
            break
        text = raw.strip()
        if text == "/quit":
            break
        if text.startswith("#"):
            call.press(text[1:])
        elif text:
            call.say(text)
        else:
            call.silence()
        if call.engine.slots != slots_shown:
            slots_shown = dict(call.engine.slots)
            shown = json.dumps(masked(slots_shown), default=str, ensure_ascii=False)
            print(f"       slots: {shown}")
    shown = json.dumps(masked(call.engine.slots), default=str, ensure_ascii=False)
    print(f"call ended at step {call.step}; slots: {shown}")
    return 0


# -- flow graph / schema --------------------------------------------------------------------
def cmd_graph(args: argparse.Namespace) -> int:
    from voicebot.flow import graph
    from voicebot.flow.loader import load_flow

    flow = load_flow(args.file).flow
    sys.stdout.write(graph.dot(flow) if args.dot else graph.mermaid(flow))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from voicebot.flow.schema import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0
