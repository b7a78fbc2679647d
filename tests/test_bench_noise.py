"""bench/noise_bench.py's own logic: the dev/test split shares no speaker, and the choice of a
suppressor per answer kind needs a margin on dev (the figures themselves come from the bench)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from asr_data import digit_strings, single_digits  # noqa: E402 (after the path set-up)
from noise_bench import DEV_SPEAKERS, MARGIN, TEST_SPEAKERS, Run, Tally, choose  # noqa: E402
from noise_filters import FILTERS, SHIPPABLE  # noqa: E402

FSDD = ROOT / "tests" / "data" / "fsdd"


def test_dev_and_test_use_different_speakers() -> None:
    import random

    assert not DEV_SPEAKERS & TEST_SPEAKERS
    dev = single_digits(FSDD, 20, random.Random(0), DEV_SPEAKERS)
    test = single_digits(FSDD, 20, random.Random(0), TEST_SPEAKERS)
    assert dev and test
    assert not {i.pcm for i in dev} & {i.pcm for i in test}
    strings = digit_strings(FSDD, 3, random.Random(1), TEST_SPEAKERS)
    assert len(strings) == 12  # 3 of 4-10 and 3 of 8 digits, each clean and under line noise
    assert {i.set for i in strings} >= {"8-digit strings, line noise", "8-digit strings, clean"}


def _runs(digits: dict[str, int]) -> dict[str, Run]:
    runs = {}
    for name in FILTERS:
        run = Run()
        run.kinds["digits"] = Tally(n=40, right=digits.get(name, 30))
        run.kinds["text"] = Tally(n=20, right=10)
        runs[name] = run
    return runs


def test_a_suppressor_is_chosen_only_when_it_wins_by_the_margin() -> None:
    gated = "speex -30 dB on a noisy line"
    assert choose(_runs({gated: 30 + MARGIN - 1})) == {"digits": "none", "text": "none"}
    assert choose(_runs({gated: 30 + MARGIN})) == {"digits": gated, "text": "none"}
    worse = {name: 10 for name in FILTERS if name != "none"}
    assert choose(_runs(worse))["digits"] == "none"


def test_only_what_the_product_can_run_is_chosen() -> None:
    assert "RNNoise" not in SHIPPABLE
    assert choose(_runs({"RNNoise": 40}))["digits"] == "none"
