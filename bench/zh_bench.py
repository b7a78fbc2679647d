"""Mandarin benchmark (not a test): recognition of real Mandarin, prompts round trip, latency
beside English, memory.

    .venv/bin/python bench/zh_bench.py [--data DIR] [--fsdd DIR] [--model-data DIR]
        [--strings N] [--latency N] [--quick] [--no-held-out] [--out bench/out] [--write]

Recognisers as a worker loads them (`load_recognizer(["en", "zh-CN"])`): Mandarin on Whisper
base forced to "zh", English on tiny.en, both CTranslate2 int8 with 2 threads. Every utterance
is 8 kHz through a G.711 μ-law round trip, built as bench/zh_data.py says.

1. Free text on the real sentences (`--data DIR`/sentences): CER per sentence and overall
   (edits over all reference characters), with the compute time of each.
2. Grammar mode on the real numbers (`--data DIR`/digits_one_speaker, one speaker, 零..十, 5
   takes): each take as an 11-option menu of the words 零..十; 零..九 as `digits` of length 1;
   strings of 4, 8 and 11 digits made of takes joined by 0.15-0.45 s pauses (fixed seed,
   `--strings N` of each length). Takes 1-2 were listened to while the recogniser was built
   (to choose its Mandarin context prompt): takes 3-5 are the held-out figure, 1-2 are shown
   apart, and nothing is tuned on 3-5. `--no-held-out` runs takes 1-2 only (for working on
   this script; it cannot `--write`).
3. Round trip: every static Mandarin prompt of every flow in dialog_flows/ (what a worker
   prerenders for a Mandarin call: `worker.static_prompts(flow, "zh-CN")`), synthesised by
   `EspeakSynthesizer` in the voice the worker uses, recognised as free Mandarin text: CER.
   Without a Mandarin flow, the Mandarin prompts of the example of docs/flow-format.md's
   "Languages" section (the section says so).
4. Latency: `final()` wall time per answer kind, Mandarin beside English, the two languages
   interleaved item by item (`--latency N` answers per kind and language): a menu word, yes/no,
   4 and 11 digits, a free-text sentence. English: FSDD digits (`--fsdd DIR`, default
   bench/data/fsdd, else the 114 in tests/data/fsdd) and espeak-ng en-us; Mandarin: the takes
   (3-5) and sentences, espeak-ng Mandarin for yes/no. Memory: VmRSS of a fresh process with
   `load_recognizer(["en"])` and one with `load_recognizer(["en", "zh-CN"])`, after loading
   and (VmHWM) after one free-text answer in each loaded language.

`--write` replaces the "## Mandarin" section of BENCHMARKS.md (the command line, the load
average at start and end, every table). Nothing between its heading and the next is written by
hand.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import zh_data as data  # noqa: E402 (after the path set-up)
from bench import zh_report as report  # noqa: E402
from bench.zh_data import KINDS, LENGTHS, SEED, ZH  # noqa: E402

EN_YES_NO = (("yes", "yes"), ("no", "no"), ("yeah", "yes"), ("nope", "no"))
ZH_YES_NO = (("是的", "yes"), ("不是", "no"), ("对", "yes"), ("不对", "no"))
EN_NUMBER_WORDS = tuple("zero one two three four five six seven eight nine ten".split())


# -- expectations ------------------------------------------------------------------------------
def number_menu(words: Sequence[str], language: str):
    from voicebot.dialog.expectation import Expectation

    options = tuple((str(n), (w,)) for n, w in enumerate(words))
    return Expectation("menu", options=options, language=language)


def digits(n: int, language: str):
    from voicebot.dialog.expectation import Expectation

    return Expectation("digits", min_digits=n, max_digits=n, language=language)


def yes_no(language: str):
    from voicebot.dialog.expectation import Expectation

    return Expectation("yes_no", language=language)


def free_text(language: str):
    from voicebot.dialog.expectation import Expectation

    return Expectation("text", modes=("speech",), language=language)


# -- running -----------------------------------------------------------------------------------
def recognise(rec, pcm: bytes, expect) -> dict[str, Any]:
    from voicebot.speech.recognizer import to_model_audio

    audio = to_model_audio(pcm, data.RATE)
    c0, w0 = time.process_time(), time.perf_counter()
    result = rec.final(audio, expect)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {
        "text": result.text,
        "option": result.option,
        "mode": result.mode,
        "rejected": result.rejected,
        "audio": len(pcm) / (2 * data.RATE),
        "wall": wall,
        "cpu": cpu,
    }


def char_errors(ref: str, hyp: str) -> tuple[float, int]:
    """(edits, reference characters) as `voicebot.testing.scoring.cer` counts them."""
    from voicebot.testing.scoring import cer

    n = sum(ch.isalnum() for ch in ref)
    return cer(ref, hyp) * max(1, n), n


def run_sentences(rec, sentences: list[data.Sentence]) -> list[dict[str, Any]]:
    out = []
    for s in sentences:
        pcm = data.recording(data.read_8k(s.path))
        got = recognise(rec, pcm, free_text(ZH))
        edits, n = char_errors(s.text, got["text"])
        out.append({**got, "name": s.name, "ref": s.text, "edits": edits, "chars": n})
    return out


class Clips:
    """Each recording as the listener hands it over alone, and trimmed for strings; once."""

    def __init__(self) -> None:
        self._alone: dict[Path, bytes] = {}
        self._trimmed: dict[Path, np.ndarray] = {}

    def alone(self, path: Path) -> bytes:
        if path not in self._alone:
            self._alone[path] = data.listened(data.read_8k(path))
        return self._alone[path]

    def trimmed(self, path: Path) -> np.ndarray:
        if path not in self._trimmed:
            self._trimmed[path] = data.trimmed(data.read_8k(path))
        return self._trimmed[path]


def take_set(take: int) -> str:
    return "held out (takes 3-5)" if take in data.HELD_OUT_TAKES else "development (takes 1-2)"


def run_numbers(rec, all_takes: list[data.Take], clips: Clips, strings: int) -> list[dict]:
    by = {(t.number, t.take): t for t in all_takes}
    menu = number_menu(data.NUMBER_WORDS, ZH)
    out = []
    for t in all_takes:
        pcm = clips.alone(t.path)
        got = recognise(rec, pcm, menu)
        out.append(
            {
                **got,
                "grammar": "menu 零..十 (11 options)",
                "set": take_set(t.take),
                "truth": str(t.number),
                "heard": got["option"] or "",
                "right": got["option"] == str(t.number),
            }
        )
        if t.number <= 9:
            got = recognise(rec, pcm, digits(1, ZH))
            out.append(
                {
                    **got,
                    "grammar": "digits, 1",
                    "set": take_set(t.take),
                    "truth": str(t.number),
                    "heard": got["text"],
                    "right": got["text"] == str(t.number),
                }
            )
    for numbers in (data.DEV_TAKES, data.HELD_OUT_TAKES):
        if not all((d, k) in by for d in range(10) for k in numbers):
            continue
        for s in data.digit_strings(LENGTHS, strings, numbers, SEED):
            pcm = data.string_audio(s, lambda d, k: clips.trimmed(by[(d, k)].path))
            got = recognise(rec, pcm, digits(len(s.truth), ZH))
            out.append(
                {
                    **got,
                    "grammar": f"digits, {len(s.truth)}",
                    "set": take_set(numbers[0]),
                    "truth": s.truth,
                    "heard": got["text"],
                    "right": got["text"] == s.truth,
                }
            )
    return out


def synthesise(cache: dict, text: str, voice: tuple[str, int], default: tuple[str, int]):
    from voicebot.speech.synthesizer import EspeakSynthesizer, Voice

    if default not in cache:
        cache[default] = EspeakSynthesizer(Voice(*default))
    pcm = cache[default].synthesize(text, data.RATE, Voice(*voice))
    return np.frombuffer(pcm, "<i2").astype(np.float64)


def run_round_trip(rec, prompts: list[data.Prompt], tts: dict) -> list[dict[str, Any]]:
    out = []
    for p in prompts:
        speech = synthesise(tts, p.text, (p.voice, p.rate), (p.default_voice, p.default_rate))
        pcm = data.utterance(speech, free_text=True)
        got = recognise(rec, pcm, free_text(ZH))
        edits, n = char_errors(p.text, got["text"])
        bilingual = bool(re.search(r"[A-Za-z]", p.text))
        out.append(
            {
                **got,
                "ref": p.text,
                "flows": list(p.flows),
                "voice": f"{p.voice} {p.rate}",
                "edits": edits,
                "chars": n,
                "bilingual": bilingual,
                "pcm": pcm,
            }
        )
    return out


def shipped_prompts() -> tuple[list[data.Prompt], str]:
    """The Mandarin prompts of dialog_flows/, else of the docs' example; and what they are."""
    prompts, failed = data.mandarin_prompts(data.flow_files(ROOT / "dialog_flows"))
    source = "Every static Mandarin prompt of the flows in dialog_flows/"
    if not prompts:
        with tempfile.TemporaryDirectory() as tmp:
            example = data.docs_example(ROOT / "docs" / "flow-format.md", Path(tmp))
            prompts, _ = data.mandarin_prompts([example])
        source = (
            "No flow in dialog_flows/ speaks Mandarin yet: these are the static Mandarin "
            'prompts of the example flow of docs/flow-format.md ("Languages"), as a '
            "worker would render them for a Mandarin call"
        )
    voices = sorted({f"{p.voice} {p.rate}" for p in prompts})
    source += (
        " (the engine's own Mandarin no-input, no-match and apology prompts included), each "
        f"in the voice the worker renders it in ({', '.join(voices)}). espeak-ng renders are "
        "not bit-reproducible (a few samples differ), and a prompt's transcript can change "
        "from one run to the next."
    )
    if failed:
        source += " Flows that did not load, left out: " + "; ".join(failed) + "."
    return prompts, source


def fsdd_files(directory: Path | None) -> list[Path]:
    pattern = re.compile(r"^\d_[a-z]+_\d+\.wav$")
    for d in (
        [directory]
        if directory
        else [ROOT / "bench" / "data" / "fsdd", ROOT / "tests" / "data" / "fsdd"]
    ):
        files = sorted(p for p in d.glob("*.wav") if pattern.match(p.name)) if d.is_dir() else []
        if files:
            return files
    sys.exit(f"no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav) in {directory}")


def latency_items(
    n: int,
    fsdd: list[Path],
    takes: list[data.Take],
    take_numbers: Sequence[int],
    sentences: list[data.Sentence],
    round_trip: list[dict],
    clips: Clips,
    tts: dict,
) -> dict[str, dict[str, list[tuple[bytes, Any, str]]]]:
    """kind -> language -> n (utterance, expectation, truth), English and Mandarin; the
    Mandarin numbers from the takes `take_numbers`."""
    from bench.asr_data import SENTENCES

    rng = random.Random(SEED)
    held = [t for t in takes if t.take in take_numbers]
    by_digit: dict[int, list[Path]] = {}
    for p in fsdd:
        by_digit.setdefault(int(p.name[0]), []).append(p)
    fsdd_take = {(d, k): p for d, ps in by_digit.items() for k, p in enumerate(ps)}
    fsdd_index = range(min(len(ps) for ps in by_digit.values()))
    zh_take = {(t.number, t.take): t.path for t in held}
    en_voice, zh_voice = data.EN_CALLER, data.ZH_CALLER
    items: dict[str, dict[str, list]] = {kind: {"en": [], ZH: []} for kind, _ in KINDS}
    for i in range(n):
        f = rng.choice(fsdd)
        items["menu"]["en"].append((clips.alone(f), number_menu(EN_NUMBER_WORDS, "en"), f.name[0]))
        t = rng.choice(held)
        items["menu"][ZH].append(
            (clips.alone(t.path), number_menu(data.NUMBER_WORDS, ZH), str(t.number))
        )
        for lang, said, voice in (("en", EN_YES_NO, en_voice), (ZH, ZH_YES_NO, zh_voice)):
            text, answer = said[i % len(said)]
            pcm = data.listened(synthesise(tts, text, voice, en_voice))
            items["yes_no"][lang].append((pcm, yes_no(lang), answer))
        sentence = SENTENCES[i % len(SENTENCES)]
        en_text = data.utterance(synthesise(tts, sentence, en_voice, en_voice), free_text=True)
        items["text"]["en"].append((en_text, free_text("en"), sentence))
        items["text_tts"]["en"].append((en_text, free_text("en"), sentence))
        real = sentences[i % len(sentences)]
        zh_text = data.recording(data.read_8k(real.path))
        items["text"][ZH].append((zh_text, free_text(ZH), real.text))
        if round_trip:
            prompt = round_trip[i % len(round_trip)]
            items["text_tts"][ZH].append((prompt["pcm"], free_text(ZH), prompt["ref"]))
    for length in (4, 11):
        for s in data.digit_strings([length], n, list(fsdd_index), SEED + 1):
            pcm = data.string_audio(s, lambda d, k: clips.trimmed(fsdd_take[(d, k)]))
            items[f"digits{length}"]["en"].append((pcm, digits(length, "en"), s.truth))
        for s in data.digit_strings([length], n, take_numbers, SEED + 1):
            pcm = data.string_audio(s, lambda d, k: clips.trimmed(zh_take[(d, k)]))
            items[f"digits{length}"][ZH].append((pcm, digits(length, ZH), s.truth))
    return items


def answer_right(kind: str, got: dict[str, Any], truth: str, language: str) -> float:
    """1/0 for closed kinds; for free text the error rate (WER English, CER Mandarin)."""
    from voicebot.testing.scoring import cer, wer

    if kind.startswith("text"):
        return cer(truth, got["text"]) if language == ZH else wer(truth, got["text"])
    if kind in ("menu", "yes_no"):
        return float(got["option"] == truth)
    return float(got["text"] == truth)


def run_latency(rec, items) -> dict[str, dict[str, list[dict]]]:
    """Each kind's English and Mandarin answers in turn (which goes first alternates)."""
    out: dict[str, dict[str, list[dict]]] = {}
    for kind, _ in KINDS:
        out[kind] = {"en": [], ZH: []}
        en, zh = items[kind]["en"], items[kind][ZH]
        for i in range(max(len(en), len(zh))):
            order = [("en", en), (ZH, zh)] if i % 2 == 0 else [(ZH, zh), ("en", en)]
            for lang, lst in order:
                if i < len(lst):
                    pcm, expect, truth = lst[i]
                    got = recognise(rec, pcm, expect)
                    got["score"] = answer_right(kind, got, truth, lang)
                    out[kind][lang].append(got)
    return out


def warm_up(rec, tts: dict) -> None:
    """One free-text and one grammar answer per language before anything is timed."""
    for lang, text, voice in (
        ("en", "hello there", data.EN_CALLER),
        (ZH, "你好", data.ZH_CALLER),
    ):
        pcm = data.utterance(synthesise(tts, text, voice, data.EN_CALLER), free_text=True)
        recognise(rec, pcm, free_text(lang))
        recognise(rec, pcm, yes_no(lang))


# -- memory, in fresh processes ----------------------------------------------------------------
def status_kb() -> dict[str, int]:
    text = Path("/proc/self/status").read_text()
    return {k: int(re.search(rf"{k}:\s+(\d+)", text).group(1)) for k in ("VmRSS", "VmHWM")}  # type: ignore[union-attr]


def rss_child(languages: list[str], model_data: Path, audio_dir: Path) -> dict[str, Any]:
    """In the child: load, measure, answer once per language, measure."""
    import voicebot.speech.recognizer  # noqa: F401 (imports counted in the baseline)
    from voicebot.speech.languages import load_recognizer

    before = status_kb()
    rec = load_recognizer(languages, data_dir=model_data)
    loaded = status_kb()
    for lang in ["en", *(t for t in languages if t != "en")]:
        pcm = (audio_dir / f"{lang}.pcm").read_bytes()
        recognise(rec, pcm, free_text(lang))
    return {"imports": before, "loaded": loaded, "answered": status_kb()}


def measure_rss(model_data: Path, audio: dict[str, bytes]) -> dict[str, Any]:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for lang, pcm in audio.items():
            (Path(tmp) / f"{lang}.pcm").write_bytes(pcm)
        for langs in (["en"], ["en", ZH]):
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--rss-child",
                ",".join(langs),
                "--model-data",
                str(model_data),
                "--rss-audio",
                tmp,
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            out["+".join(langs)] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def command_line(argv: Sequence[str]) -> str:
    """The command as run, with paths outside the repository named by what they hold."""
    args = list(argv)
    names = {"--data": "ZH_DATA", "--fsdd": "FSDD/recordings", "--model-data": "DATA_DIR"}
    for i, arg in enumerate(args[:-1]):
        if arg in names and not Path(args[i + 1]).resolve().is_relative_to(ROOT):
            args[i + 1] = names[arg]
    return shlex.join([".venv/bin/python", "bench/zh_bench.py", *args])


def jsonable(res: dict[str, Any]) -> dict[str, Any]:
    out = dict(res)
    out["round_trip"] = [{k: v for k, v in r.items() if k != "pcm"} for r in res["round_trip"]]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help=f"Mandarin recordings (else ${data.ENV}, else shared/data/zh beside the repository)",
    )
    parser.add_argument("--fsdd", type=Path, metavar="DIR", help="FSDD recordings for English")
    parser.add_argument(
        "--model-data",
        type=Path,
        default=ROOT / "var",
        metavar="DIR",
        help="data_dir the Mandarin model is assembled into (default var/)",
    )
    parser.add_argument("--strings", type=int, help="digit strings per length and take set (30)")
    parser.add_argument("--latency", type=int, help="answers per kind and language (20)")
    parser.add_argument("--quick", action="store_true", help="8 strings, 6 latency answers")
    parser.add_argument("--no-held-out", action="store_true", help="takes 1-2 only")
    parser.add_argument("--no-memory", action="store_true", help="skip the RSS processes")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--write", action="store_true", help="write the section to BENCHMARKS.md")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    parser.add_argument("--rss-audio", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        print(json.dumps(rss_child(args.rss_child.split(","), args.model_data, args.rss_audio)))
        return 0
    if args.write and args.no_held_out:
        parser.error("--write needs the held-out takes: drop --no-held-out")
    zh_dir = data.find_data(args.data)
    fsdd = fsdd_files(args.fsdd)
    strings = args.strings or (8 if args.quick else 30)
    n_latency = args.latency or (6 if args.quick else 20)
    load0, wall0 = os.getloadavg(), time.perf_counter()
    began = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"load average {load0}", file=sys.stderr)

    from voicebot.speech.languages import load_recognizer

    rec = load_recognizer(["en", ZH], data_dir=args.model_data)
    tts: dict = {}
    clips = Clips()
    warm_up(rec, tts)
    all_takes = data.takes(zh_dir)
    if args.no_held_out:
        all_takes = [t for t in all_takes if t.take in data.DEV_TAKES]
    sents = data.sentences(zh_dir)
    res: dict[str, Any] = {
        "command": command_line(argv),
        "began": began,
        "cores": os.cpu_count(),
        "held_out": not args.no_held_out,
        "strings": strings,
        "n_sentences": len(sents),
        "n_takes": len(all_takes),
    }
    res["sentences"] = run_sentences(rec, sents)
    print(f"sentences done at {time.perf_counter() - wall0:.0f} s", file=sys.stderr)
    res["numbers"] = run_numbers(rec, all_takes, clips, strings)
    print(f"numbers done at {time.perf_counter() - wall0:.0f} s", file=sys.stderr)
    prompts, res["prompts_source"] = shipped_prompts()
    res["round_trip"] = run_round_trip(rec, prompts, tts)
    print(f"round trip done at {time.perf_counter() - wall0:.0f} s", file=sys.stderr)
    numbers = data.DEV_TAKES if args.no_held_out else data.HELD_OUT_TAKES
    items = latency_items(n_latency, fsdd, all_takes, numbers, sents, res["round_trip"], clips, tts)
    res["latency"] = run_latency(rec, items)
    print(f"latency done at {time.perf_counter() - wall0:.0f} s", file=sys.stderr)
    del rec
    if not args.no_memory:
        audio = {"en": items["text"]["en"][0][0], ZH: items["text"][ZH][0][0]}
        res["memory"] = measure_rss(args.model_data, audio)
    res["load"] = [load0, os.getloadavg()]
    res["ended"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    res["took"] = time.perf_counter() - wall0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "zh_results.json").write_text(
        json.dumps(jsonable(res), ensure_ascii=False, indent=1, default=str)
    )
    text = report.render(res)
    print(text)
    if args.write:
        report.write_section(text)
        print("wrote BENCHMARKS.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
