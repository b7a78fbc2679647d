"""Tests start `voicebot serve` without the console unless they ask for it with --http-port:
its default port (8080) would be shared by every test and every developer on the machine."""

import os

os.environ.setdefault("VOICEBOT_HTTP__PORT", "0")
