"""Where the benchmarks find FSDD: `--data DIR`, by default bench/data/fsdd (not in git).

The ASR, AMD and listener benchmarks use the test split of the Free Spoken Digit Dataset
(FSDD, Zohar Jackson and contributors, CC BY-SA 4.0): recordings 0-4 of every digit by each of
its six speakers, 300 WAV files at 8 kHz named `{digit}_{speaker}_{index}.wav`. The repository
carries only the 114 of them that the tests use (tests/data/fsdd), so get the dataset once:

    git clone https://github.com/Jakobovski/free-spoken-digit-dataset
    .venv/bin/python bench/asr_bench.py --data free-spoken-digit-dataset/recordings

or copy its `recordings/[0-9]_*_[0-4].wav` into bench/data/fsdd and omit `--data`. Only the test
split (index 0-4) is read from DIR, whatever else it holds.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent / "data" / "fsdd"
SPLIT_SIZE = 300
_TEST_SPLIT = re.compile(r"^\d_[a-z]+_[0-4]\.wav$")


def add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT,
        metavar="DIR",
        help="FSDD recordings; the test split (index 0-4) is used (default: bench/data/fsdd)",
    )


def test_split(directory: Path) -> list[Path]:
    """FSDD's test-split files in `directory`, sorted; exits with how to get them if none."""
    files = sorted(p for p in directory.glob("*.wav") if _TEST_SPLIT.match(p.name))
    if not files:
        where = (
            "is not a directory" if not directory.is_dir() else "has no {digit}_{speaker}_{0-4}.wav"
        )
        sys.exit(
            f"FSDD not found: {directory} {where}. Clone "
            "https://github.com/Jakobovski/free-spoken-digit-dataset and pass "
            "--data free-spoken-digit-dataset/recordings (see bench/fsdd_data.py)."
        )
    if len(files) != SPLIT_SIZE:
        print(
            f"warning: {len(files)} FSDD test-split files in {directory}, not {SPLIT_SIZE}: "
            "figures will not compare with BENCHMARKS.md",
            file=sys.stderr,
        )
    return files
