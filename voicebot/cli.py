"""The `voicebot` command.

    voicebot flow check [--strict] FILE...     schema errors, then lint warnings
    voicebot flow test FILE...                 run *.test.yaml files; coverage per flow
    voicebot flow chat FILE                    talk to a flow in text (#123 = keys, empty = silence)
    voicebot flow graph [--dot] FILE           Mermaid (or Graphviz) drawing of a flow
    voicebot flow schema                       JSON Schema of the flow format
    voicebot transcribe FILE.wav [--expect K]  the recogniser on a file

Exit codes: 0 success, 1 the input is wrong (errors, failing tests), 2 usage or internal error.
Broken input never produces a traceback: only located messages (set VOICEBOT_DEBUG=1 to see
the traceback of an internal error).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from voicebot.errors import FlowError, Problem, VoicebotError

if TYPE_CHECKING:
    from voicebot.server.worker import ServiceConfig


def _problems_out(problems: Sequence[Problem]) -> None:
    for p in problems:
        print(p, file=sys.stderr)


# -- flow check ------------------------------------------------------------------------------
def _espeak_voices() -> list[str] | None:
    """The voices a flow may name, or None when espeak-ng is not installed here."""
    from voicebot.errors import SpeechError
    from voicebot.speech.synthesizer import EspeakSynthesizer

    try:
        return EspeakSynthesizer().voices()
    except SpeechError:
        return None


def cmd_check(args: argparse.Namespace) -> int:
    from voicebot.flow.lint import lint
    from voicebot.flow.loader import load_flow
    from voicebot.settings import load_settings

    settings = load_settings()
    failed = False
    for path in args.files:
        try:
            loaded = load_flow(path, settings.limits.flow())
        except FlowError as exc:
            _problems_out(exc.problems)
            print(f"{path}: {len(exc.problems)} error(s)")
            failed = True
            continue
        audio_dir = Path(args.audio_dir) if args.audio_dir else settings.audio_assets_dir
        findings = lint(loaded, audio_dir=audio_dir, voices=_espeak_voices())
        errors = [f for f in findings if f.severity == "error"]
        warnings = [f for f in findings if f.severity != "error"]
        _problems_out(errors + warnings)
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
    _problems_out(report.problems)
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
def _pairs(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise VoicebotError(f"{what} {item!r}: expected NAME=VALUE")
        out[key] = value
    return out


def cmd_chat(args: argparse.Namespace) -> int:
    from voicebot.flow.backend import HttpBackend, HttpxBackend
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
    env.update(_pairs(args.env, "--env"))
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
        contact=_pairs(args.contact, "--contact"),
        answered_by=args.answer,
        currency=settings.currency,
        locale=settings.locale,
        on_line=show,
        transfer_allow=tuple(settings.transfers.allow),
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


# -- serve -----------------------------------------------------------------------------------
def service_config(args: argparse.Namespace) -> ServiceConfig:
    from voicebot.server.worker import ServiceConfig
    from voicebot.settings import load_settings
    from voicebot.sip.config import SipConfig
    from voicebot.speech.synthesizer import Voice

    st = load_settings()
    flow = Path(args.flow) if args.flow else st.flows_dir / st.default_flow
    sip = SipConfig(
        port=args.port if args.port is not None else st.sip.port,
        host=args.host or st.sip.host,
        public_host=st.sip.public_host,
        rtp_port=st.sip.rtp_port,
        allow_from=tuple(st.sip.allow_from),
        audio_rate=st.sip.audio_rate,
        registrar=st.sip.registrar,
        username=st.sip.username,
        password=st.sip.password.get_secret_value(),
        realm=st.sip.realm,
        transaction_timeout=st.sip.transaction_timeout,
        # the endpoint's backstop behind the session's own limit (a call no flow ends)
        max_call_seconds=st.sip.max_call_seconds + 60,
    )
    env = st.flow_environment()
    env.update(_pairs(getattr(args, "env", []) or [], "--env"))
    return ServiceConfig(
        flow=flow,
        sip=sip,
        data_dir=st.data_dir,
        call_records=st.call_records,
        audio_dir=st.audio_assets_dir,
        model_dir=st.speech.model_dir,
        compute_type=st.speech.compute_type,
        cpu_threads=st.speech.cpu_threads,
        env=env,
        currency=st.currency,
        locale=st.locale,
        max_call_seconds=st.sip.max_call_seconds,
        drain_seconds=st.sip.drain_seconds,
        watchdog_seconds=st.sip.watchdog_seconds,
        http_connect_timeout=st.http.connect_timeout,
        http_max_reply_bytes=st.http.max_reply_bytes,
        clock=getattr(args, "clock", None),
        voice=Voice(st.speech.tts_voice, st.speech.tts_rate),
        log_level=args.log_level.upper() if args.log_level else st.log_level,
        transfer_allow=tuple(st.transfers.allow),
        outbound_allow=tuple(st.outbound.allow),
        outbound_refuse=tuple(st.outbound.refuse),
        region=st.campaign.region,
        limits=st.limits.flow(),
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from voicebot.server.worker import serve_forever, serve_workers
    from voicebot.settings import load_settings

    config = service_config(args)
    workers = args.workers or load_settings().sip.workers
    if workers > 1 and config.sip.port == 0:
        raise VoicebotError(
            f"--workers {workers} listen on port, port+1, ...: give a fixed --port (e.g. 5071)"
        )
    if workers == 1:
        serve_forever(config)
        return 0
    return serve_workers(config, workers)


# -- call records ----------------------------------------------------------------------------
def cmd_calls(args: argparse.Namespace) -> int:
    from voicebot.call.records import CallStore, format_call, format_list
    from voicebot.settings import load_settings

    path = Path(args.db) if args.db else load_settings().call_records
    if not path.is_file():
        print(f"no call records yet ({path})", file=sys.stderr)
        return 1 if args.calls_command == "show" else 0
    store = CallStore(path)
    if args.calls_command == "list":
        print(format_list(store.list(limit=args.limit, outcome=args.outcome)))
        return 0
    record = store.get(args.id)
    if record is None:
        print(f"no call {args.id!r} in {path}", file=sys.stderr)
        return 1
    print(format_call(record))
    return 0


# -- parser ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voicebot", description="Voice-bot telephony service.")
    parser.add_argument(
        "--log-level",
        default=None,
        help="DEBUG, INFO, WARNING, ERROR (default: setting log_level for serve and "
        "campaign run, WARNING for the others)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    flow = sub.add_parser("flow", help="write, check, test and explore dialog flows")
    fsub = flow.add_subparsers(dest="flow_command", required=True)

    p = fsub.add_parser("check", help="validate flows and report lint warnings")
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

    p = sub.add_parser("serve", help="answer SIP calls with a flow")
    p.add_argument("--flow", help="flow file (default: settings flows_dir/default_flow)")
    p.add_argument("--port", type=int, help="SIP port, UDP and TCP (worker i: port + i)")
    p.add_argument("--host", help="address to bind (default: settings sip.host)")
    p.add_argument("--workers", type=int, help="worker processes, 4 calls each")
    p.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="env.NAME for the flow"
    )
    p.add_argument("--clock", help="demos/tests: the ISO time the flow sees as each call starts")
    p.set_defaults(func=cmd_serve, service=True)

    from voicebot import caller

    p = sub.add_parser("call", help="call a bot with a scripted caller and show what it heard")
    caller.add_arguments(p)
    p.set_defaults(func=caller.run)

    calls = sub.add_parser("calls", help="call records")
    csub = calls.add_subparsers(dest="calls_command", required=True)
    p = csub.add_parser("list", help="the latest calls")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--outcome", help="only calls with this outcome")
    p.add_argument("--db", help="records file (default: settings call_records)")
    p.set_defaults(func=cmd_calls)
    p = csub.add_parser("show", help="one call with its turns")
    p.add_argument("id")
    p.add_argument("--db", help="records file (default: settings call_records)")
    p.set_defaults(func=cmd_calls)

    from voicebot.campaign import cli as campaign_cli
    from voicebot.deploy import kamailio

    p = sub.add_parser("kamailio-config", help="Kamailio dispatcher front for the workers")
    kamailio.add_arguments(p)
    p.set_defaults(func=kamailio.run)
    campaign_cli.add_arguments(sub)

    try:
        from voicebot.speech import transcribe_cli
    except ImportError:  # the speech extras are not installed
        transcribe_cli = None  # type: ignore[assignment]
    if transcribe_cli is not None:
        p = sub.add_parser("transcribe", help="recognise speech in a WAV file")
        transcribe_cli.add_arguments(p)
        p.set_defaults(func=transcribe_cli.run)
    return parser


def log_level(args: argparse.Namespace) -> str:
    """`--log-level`, else the setting `log_level` for the commands that run the service
    (`serve`, `campaign run`: their parsers set `service=True`), else WARNING."""
    if args.log_level:
        return str(args.log_level).upper()
    if getattr(args, "service", False):
        from voicebot.settings import load_settings

        return load_settings().log_level
    return "WARNING"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        logging.basicConfig(level=log_level(args), format="%(levelname)s %(name)s: %(message)s")
        return int(args.func(args) or 0)
    except FlowError as exc:
        _problems_out(exc.problems)
        return 1
    except VoicebotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an internal error: say so plainly, traceback on request
        if os.environ.get("VOICEBOT_DEBUG"):
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc} "
            "(set VOICEBOT_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
