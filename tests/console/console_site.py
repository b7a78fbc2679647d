"""A running console for the real-SIP tests (`voicebot.testing.console_site`: `voicebot serve`
with its HTTP console on a free port, the simulated callees as the campaign trunk, tokens made
with `voicebot token create`), once per module. A module's fixture:

    from console_site import running  # noqa: F401 (the fixture)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from voicebot.testing.console_site import ROOT, Running, console_site, contacts_csv, wait_finished

FLOW = Path(__file__).parent / "data" / "leave_message.yaml"
RULES = FLOW.with_suffix(".qa.yaml")  # every call is scored when it ends

__all__ = ["ROOT", "Running", "contacts_csv", "running", "wait_finished"]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with console_site(tmp_path_factory.mktemp("console"), [FLOW, RULES]) as site:
        yield site
