"""The `voicebot` command: one module per command group.

    voicebot flow check [--strict] FILE...     schema errors, then lint warnings
    voicebot flow test FILE...                 run *.test.yaml files; coverage per flow
    voicebot flow chat FILE                    talk to a flow in text (#123 = keys, empty = silence)
    voicebot flow graph [--dot] FILE           Mermaid (or Graphviz) drawing of a flow
    voicebot flow schema                       JSON Schema of the flow format
    voicebot kb search FILE "question"       a knowledge file's entries ranked, with scores
    voicebot transcribe FILE.wav [--expect K]  the recogniser on a file
    voicebot qa run RULES.yaml [--since W]     score stored calls against quality rules
    voicebot qa transcribe FILE.wav            bring in a stereo recording of an agent's call
    voicebot calls list|show ID                call records (list ends with the retention status)
    voicebot calls purge [--older-than N] [--dry-run]   retention by hand: old audio and words

Exit codes: 0 success, 1 the input is wrong (errors, failing tests), 2 usage or internal error.
Broken input never produces a traceback: only located messages (set VOICEBOT_DEBUG=1 to see
the traceback of an internal error).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from voicebot.cli import calls, flow, kamailio, kb, qa, serve
from voicebot.cli.flow import problems_out
from voicebot.errors import FlowError, VoicebotError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voicebot", description="Voice-bot telephony service.")
    parser.add_argument(
        "--log-level",
        default=None,
        help="DEBUG, INFO, WARNING, ERROR (default: setting log_level for serve and "
        "campaign run, WARNING for the others)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    flow.add_arguments(sub)
    serve.add_arguments(sub)

    from voicebot.cli import call

    p = sub.add_parser("call", help="call a bot with a scripted caller and show what it heard")
    call.add_arguments(p)
    p.set_defaults(func=call.run)
    calls.add_arguments(sub)
    kb.add_arguments(sub)
    qa.add_arguments(sub)

    p = sub.add_parser("kamailio-config", help="Kamailio dispatcher front for the workers")
    kamailio.add_arguments(p)
    p.set_defaults(func=kamailio.run)

    from voicebot.cli import campaign

    campaign.add_arguments(sub)

    from voicebot.cli import token

    token.add_arguments(sub)

    try:
        from voicebot.cli import transcribe
    except ImportError:  # the speech extras are not installed
        transcribe = None  # type: ignore[assignment]
    if transcribe is not None:
        p = sub.add_parser("transcribe", help="recognise speech in a WAV file")
        transcribe.add_arguments(p)
        p.set_defaults(func=transcribe.run)
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
        problems_out(exc.problems)
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
