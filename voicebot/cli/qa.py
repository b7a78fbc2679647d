"""`voicebot qa run|transcribe`: quality inspection (质检) of stored calls and agents' recordings.

    voicebot qa run RULES.yaml [--since WHEN] [--json] [--database URL|FILE]
        scores every stored call that started since WHEN (all by default) against the rules,
        keeps each result with its call (replacing the one scored when it ended) and prints
        one line per call, then a summary; `--json`: one JSON object per line per call,
        {"id", "started_at", "outcome", "score", "broken", "not_measured", "findings"}.
        WHEN is an ISO 8601 date or time (2026-12-01, 2026-12-01T08:00+08:00; without a zone
        it is local time) or a time back from now (90m, 24h, 7d).
    voicebot qa transcribe FILE.wav [--rules RULES.yaml] [--language en|zh]
                           [--agent-channel left|right] [--database URL|FILE]
        brings in a stereo recording of a human agent's call (voicebot/call/agent_recording.py:
        the agent on the left channel by default), prints its turns and stores it as a call
        record; with `--rules`, scores it too.

Calls in progress and outbound calls never answered are not scored (nothing was said).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from voicebot.cli.calls import database_argument, open_records

_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|d)\s*$")
_UNIT = {"m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """`--since`: an ISO date or time, or minutes/hours/days back from `now` (90m, 24h, 7d)."""
    now = now or datetime.now(UTC)
    m = _AGO.match(value)
    if m:
        return now - timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"cannot use --since {value!r}: give an ISO date or time (2026-12-01, "
            "2026-12-01T08:00) or a time back from now (90m, 24h, 7d)"
        ) from None
    return at if at.tzinfo else at.astimezone()


def add_arguments(sub: Any) -> None:
    qa = sub.add_parser("qa", help="quality inspection of calls against *.qa.yaml rules")
    qsub = qa.add_subparsers(dest="qa_command", required=True)

    p = qsub.add_parser("run", help="score the stored calls against rules")
    p.add_argument("rules", metavar="RULES.yaml")
    p.add_argument("--since", type=parse_since, help="only calls started since (ISO, or 24h/7d)")
    p.add_argument("--json", action="store_true", help="one JSON object per line per call")
    database_argument(p)
    p.set_defaults(func=cmd_run)

    p = qsub.add_parser("transcribe", help="bring in a stereo recording of an agent's call")
    p.add_argument("file", metavar="FILE.wav")
    p.add_argument("--rules", metavar="RULES.yaml", help="score it against these rules too")
    p.add_argument("--language", default="en", help="en (default, tiny.en) or zh (Whisper base)")
    p.add_argument(
        "--agent-channel",
        choices=["left", "right"],
        default="left",
        help="the agent's channel (default left; the caller is on the other)",
    )
    p.add_argument("--direction", choices=["inbound", "outbound"], default="inbound")
    database_argument(p)
    p.set_defaults(func=cmd_transcribe)


def _line(record: Any, result: Any) -> str:
    score = "-" if result.score is None else f"{result.score:g}"
    broken = ", ".join(result.broken) or "none"
    unmeasured = f"; not measured: {', '.join(result.not_measured)}" if result.not_measured else ""
    return f"{record.id:<24} {record.started_at[:19]:<19} {score:>5}  broken: {broken}{unmeasured}"


def _json_line(record: Any, result: Any) -> str:
    return json.dumps(
        {
            "id": record.id,
            "started_at": record.started_at,
            "outcome": record.outcome,
            "score": result.score,
            "broken": result.broken,
            "not_measured": result.not_measured,
            "findings": [f.as_dict() for f in result.findings],
        },
        ensure_ascii=False,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from voicebot.call.scoring import score_record
    from voicebot.flow.quality_file import load_rules

    rules = load_rules(args.rules)
    store = open_records(args.db, must_exist=True)
    since: datetime | None = args.since
    scored: list[float] = []
    broken: dict[str, int] = {}
    listed = store.list(limit=sys.maxsize)
    for summary in reversed(listed):  # oldest first
        if since is not None and datetime.fromisoformat(summary.started_at) < since:
            continue
        record = store.get(summary.id)
        result = score_record(store, record, rules) if record is not None else None
        if record is None or result is None:
            continue
        print(_json_line(record, result) if args.json else _line(record, result))
        if result.score is not None:
            scored.append(result.score)
        for rule in result.broken:
            broken[rule] = broken.get(rule, 0) + 1
    if not args.json:
        mean = f", mean score {sum(scored) / len(scored):.1f}" if scored else ""
        most = ", ".join(f"{rule} {n}" for rule, n in sorted(broken.items(), key=lambda x: -x[1]))
        print(f"{len(scored)} call(s) scored{mean}; rules broken: {most or 'none'}")
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from voicebot.audio.wav import read_wav_channels
    from voicebot.call import agent_recording as ar
    from voicebot.call.records import format_call
    from voicebot.call.scoring import score_record
    from voicebot.cli.transcribe import recognizer_for
    from voicebot.flow.quality_file import load_rules

    rules = load_rules(args.rules) if args.rules else None  # a bad file fails before the model
    channels, rate = read_wav_channels(args.file, rate=16000)
    spans = ar.conversation(channels, rate, args.agent_channel)
    recognizer = recognizer_for(args.language)
    turns = ar.transcribe(
        spans,
        channels,
        rate,
        recognizer,
        language=args.language,
        agent_channel=args.agent_channel,
    )
    duration = len(channels[0]) / 2 / rate
    store = open_records(args.db, must_exist=False)
    call_id = ar.store_recording(
        store,
        args.file,
        turns,
        started_at=ar.started_at(args.file, duration),
        duration=duration,
        direction=args.direction,
    )
    record = store.get(call_id)
    assert record is not None
    if rules is not None:
        score_record(store, record, rules)
        record = store.get(call_id)
        assert record is not None
    print(format_call(record))
    return 0
