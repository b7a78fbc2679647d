"""Settings reach the service: `log_level`, `speech.tts_voice`/`tts_rate`, and the workers,
which get their configuration as pydantic JSON through the pipe they start with and never find
a secret (the SIP password) in their environment."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from voicebot.call.live_call import LiveCall, Resources
from voicebot.call.session import CallSession
from voicebot.cli import build_parser, log_level
from voicebot.cli.serve import service_config
from voicebot.dialog import events as dev
from voicebot.dialog.engine import DialogEngine
from voicebot.errors import ConfigError
from voicebot.flow.loader import load_flow
from voicebot.server.worker import ServiceConfig, VoicebotService, decode, encode
from voicebot.settings import drop_secrets_from_environment, load_settings
from voicebot.sip.config import SipConfig
from voicebot.speech.listener import Listener
from voicebot.speech.prompt_cache import PromptCache
from voicebot.speech.scheduler import RecognitionScheduler
from voicebot.speech.synthesizer import Voice
from voicebot.testing.registrar import Registrar
from voicebot.testing.speech import FakeSynthesizer

ROOT = Path(__file__).resolve().parents[1]
SECRET = "pw-4e1c-not-for-children"
FLOW = """
version: 1
name: settings
start: hello
steps:
  hello: {say: "Hello there.", next: end}
  end: {hangup: {}}
"""
VOICED = FLOW.replace("start: hello", "voice: {name: en-us, rate: 180}\nstart: hello")


def flow_file(tmp_path: Path, text: str = FLOW) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return path


def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "voicebot.yaml"
    path.write_text(text)
    monkeypatch.setenv("VOICEBOT_CONFIG", str(path))
    return path


# -- settings to configuration ---------------------------------------------------------------
def test_log_level_is_the_level_of_the_service_commands(tmp_path, monkeypatch):
    config_file(tmp_path, monkeypatch, "log_level: debug\n")
    parse = build_parser().parse_args
    assert log_level(parse(["serve"])) == "DEBUG"
    assert log_level(parse(["campaign", "run", "spring"])) == "DEBUG"
    assert log_level(parse(["flow", "check", "x.yaml"])) == "WARNING"  # the tools stay quiet
    assert log_level(parse(["--log-level", "error", "serve"])) == "ERROR"
    assert service_config(parse(["serve"])).log_level == "DEBUG"  # what the workers get
    assert service_config(parse(["--log-level", "info", "serve"])).log_level == "INFO"


def test_an_unknown_log_level_is_a_located_config_error(tmp_path, monkeypatch):
    path = config_file(tmp_path, monkeypatch, "log_level: LOUD\n")
    with pytest.raises(ConfigError, match=rf"{path}: log_level: .*'LOUD': use one of DEBUG"):
        load_settings()


def test_worker_configuration_round_trips_as_pydantic_json():
    config = ServiceConfig(
        flow=Path("f.yaml"),
        sip=SipConfig(password="pw", allow_from=("10.0.0.0/8",)),
        env={"A": "1"},
        voice=Voice("en-gb", 120),
        log_level="DEBUG",
    )
    text = encode(config)
    assert json.loads(text)["sip"]["allow_from"] == ["10.0.0.0/8"]
    assert decode(text) == config
    with pytest.raises(ValidationError, match="cpu_threads"):
        decode(text.replace('"cpu_threads":2', '"cpu_threads":"two"'))


def test_the_password_is_a_secret_dropped_from_the_environment_once_read(monkeypatch):
    monkeypatch.setenv("VOICEBOT_SIP__PASSWORD", SECRET)
    monkeypatch.setenv("VOICEBOT_CURRENCY", "EUR")
    settings = load_settings()
    assert settings.sip.password.get_secret_value() == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in repr(SipConfig(password=settings.sip.password.get_secret_value()))
    assert drop_secrets_from_environment() == ["VOICEBOT_SIP__PASSWORD"]
    assert "VOICEBOT_SIP__PASSWORD" not in os.environ and os.environ["VOICEBOT_CURRENCY"] == "EUR"


# -- the voice a call speaks in --------------------------------------------------------------
@pytest.mark.parametrize(
    ("flow", "voice"), [(FLOW, Voice("en-gb", 120)), (VOICED, Voice("en-us", 180))]
)
def test_the_service_voice_is_the_flows_or_else_the_settings(tmp_path, flow, voice):
    config = ServiceConfig(flow_file(tmp_path, flow), SipConfig(port=0), voice=Voice("en-gb", 120))
    assert VoicebotService(config).voice == voice


class _VoiceLog(FakeSynthesizer):
    def __init__(self) -> None:
        super().__init__()
        self.voices: list[Voice | None] = []

    def synthesize(self, text: str, sample_rate: int, voice: Voice | None = None) -> bytes:
        self.voices.append(voice)
        return super().synthesize(text, sample_rate, voice)


class _Media:
    rate = 8000
    playing = False

    def read_frames(self, timeout: float | None = 0.0) -> list:
        time.sleep(timeout or 0.0)
        return []

    def play(self, pcm: bytes) -> None:
        pass

    def stop_playback(self) -> bool:
        return False

    def pause_playback(self) -> bool:
        return False

    def resume_playback(self, rewind: float = 0.0) -> bool:
        return False


class _Sip:
    def hangup(self, call_id: str, status_code: int = 0) -> None:
        pass

    def transfer(self, call_id: str, target: str, headers: object = None) -> None:
        pass


@pytest.mark.parametrize(
    ("flow", "voice"), [(FLOW, Voice("en-gb", 120)), (VOICED, Voice("en-us", 180))]
)
def test_a_live_call_speaks_in_the_settings_voice_unless_the_flow_names_one(tmp_path, flow, voice):
    tts = _VoiceLog()
    loaded = load_flow(flow_file(tmp_path, flow))
    with ThreadPoolExecutor(1) as pool:
        res = Resources(
            recognizer=None,  # type: ignore[arg-type]  (this call never listens)
            prompts=PromptCache(tmp_path / "prompts", tts, 8000),
            recognition=RecognitionScheduler(None),  # type: ignore[arg-type]
            io_pool=pool,
            records=None,
            recordings_dir=tmp_path,
            http=None,  # type: ignore[arg-type]  (this flow makes no request)
            voice=Voice("en-gb", 120),  # what the service sets from speech.tts_voice/tts_rate
        )
        session = CallSession(DialogEngine(loaded, call_id="c1"), Listener(rate=8000))
        live = LiveCall("c1", session, _Media(), _Sip(), res, max_duration=5)
        live.start(dev.CallStarted("c1", started_at=datetime.now().astimezone()))
        deadline = time.monotonic() + 5
        while not tts.voices and time.monotonic() < deadline:
            time.sleep(0.01)
        live.post(dev.Hangup("caller"))
        assert live.done.wait(5)
    assert tts.calls[0] == "Hello there." and tts.voices[0] == voice


# -- a real `voicebot serve` -----------------------------------------------------------------
def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base < 60000 and all(_free(base + i) for i in range(2)):
            return base
    raise RuntimeError("no two free ports in a row")


def _free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


class _Serve:
    """`voicebot serve ...` in its own process group, with its output (stdout+stderr) kept."""

    def __init__(self, tmp: Path, config: str, *args: str, env: dict[str, str] | None = None):
        (tmp / "voicebot.yaml").write_text(config)
        environ = {k: v for k, v in os.environ.items() if not k.upper().startswith("VOICEBOT_")}
        environ.update(
            VOICEBOT_CONFIG=str(tmp / "voicebot.yaml"),
            VOICEBOT_DATA_DIR=str(tmp),
            VOICEBOT_CALL_RECORDS=str(tmp / "calls.db"),
            VOICEBOT_HTTP__PORT="0",  # no console: its port 8080 is one for the whole machine
            **(env or {}),
        )
        command = [sys.executable, "-m", "voicebot", "serve", "--flow", str(flow_file(tmp))]
        self.proc = subprocess.Popen(
            [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=environ, cwd=ROOT, start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 120.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in list(self.lines) if re.search(pattern, line)]
            if len(found) >= count:
                return found
            assert self.proc.poll() is None, "".join(self.lines[-40:])
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r}:\n{''.join(self.lines[-40:])}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self._reader.join(5)
        return "".join(self.lines)


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            out += [child, *_descendants(child)]
    return out


@pytest.mark.slow
def test_serve_logs_at_the_configured_level_and_speaks_in_the_configured_voice(tmp_path):
    from voicebot.speech.synthesizer import EspeakSynthesizer

    loud, quiet = tmp_path / "loud", tmp_path / "quiet"
    loud.mkdir(), quiet.mkdir()
    voice = "log_level: DEBUG\nspeech: {tts_voice: en-gb, tts_rate: 120}\n"
    runs = {"DEBUG": _Serve(loud, voice, "--port", "0")}
    runs["DEBUG"].wait_for(r"answering at sip:")
    runs["WARNING"] = _Serve(quiet, "log_level: WARNING\n", "--port", "0")
    runs["WARNING"].wait_for(r"answering at sip:")
    out = {level: run.stop() for level, run in runs.items()}
    assert re.search(r"^DEBUG voicebot\.", out["DEBUG"], re.M), out["DEBUG"]
    assert re.search(r"^INFO voicebot\.server\.worker: worker w1 ready", out["DEBUG"], re.M)
    assert not re.search(r"^(DEBUG|INFO) ", out["WARNING"], re.M), out["WARNING"]
    assert "answering at sip:" in out["WARNING"]
    # the flow names no voice: its prompts were rendered in the settings' voice and rate
    espeak = EspeakSynthesizer()
    cache = PromptCache(loud / "prompts", espeak, 16000)
    assert cache.contains("Hello there.", Voice("en-gb", 120))
    assert not cache.contains("Hello there.", Voice("en-us", 165))


@pytest.mark.slow
@pytest.mark.sip
def test_workers_get_the_password_through_their_pipe_and_never_in_their_environment(tmp_path):
    registrar = Registrar("bot", SECRET)
    registrar.start()
    port = _free_port_pair()
    config = f"log_level: DEBUG\nsip: {{registrar: 'sip:127.0.0.1:{registrar.port}', username: bot, realm: voicebot.test}}\n"
    serve = _Serve(
        tmp_path, config, "--workers", "2", "--port", str(port),
        env={"VOICEBOT_SIP__PASSWORD": SECRET},
    )  # fmt: skip
    try:
        serve.wait_for(r"voicebot w\d answering at sip:", count=2)
        children = _descendants(serve.proc.pid)  # 2 workers, multiprocessing's resource tracker
        assert len(children) >= 2, children
        for pid in children:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            assert SECRET.encode() not in environ, pid
            assert b"VOICEBOT_SIP__PASSWORD" not in environ, pid
        # ... yet both workers registered with it: it came through the pipe, in the JSON
        deadline = time.monotonic() + 20
        while registrar.log.count(("300", 200)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert registrar.log.count(("300", 200)) == 2, registrar.log
        # the supervisor and the workers log at the configured level
        started = serve.wait_for(
            r"INFO voicebot\.server\.supervisor: worker w\d started \(pid \d+", 2, 5
        )
        assert {int(re.search(r"pid (\d+)", line).group(1)) for line in started} <= set(children)
        serve.wait_for(r" w\d DEBUG voicebot\.", timeout=5)
    finally:
        output = serve.stop()
        registrar.stop()
    assert serve.proc.returncode == 0, output[-3000:]
    assert SECRET not in output
