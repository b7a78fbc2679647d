"""The console's HTTP server: uvicorn on a thread of the supervisor process (never in a pjsua2
worker). `start()` returns once it listens, or raises if it cannot bind."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import uvicorn

from voicebot.errors import ConfigError

log = logging.getLogger(__name__)


class ConsoleServer:
    def __init__(self, app: Any, host: str, port: int):
        self.host, self.port = host, port
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,  # open live streams must not hold up the drain
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name="console-http", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def _run(self) -> None:
        try:
            self.server.run()
        except SystemExit:  # uvicorn exits when it cannot bind
            log.error("the console could not listen on %s:%s", self.host, self.port)

    def start(self, timeout: float = 15.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(
                    f"the console cannot listen on {self.host}:{self.port} (in use?): set "
                    "http.port, or --http-port (0: no console)"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
