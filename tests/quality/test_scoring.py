"""Scoring stored calls: kept with the call; a failure at the end of a call is logged, never
raised; a broken rules file leaves the flow answering calls, unscored."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from voicebot.call.records import CallStore, TurnRecord
from voicebot.call.scoring import flow_rules, score_ended_call
from voicebot.flow.quality_file import load_rules

FLOWS = Path(__file__).resolve().parents[2] / "dialog_flows"


def test_an_ended_call_is_scored_and_kept(tmp_path):
    store = CallStore(tmp_path / "calls.db")
    store.call_started("c1", direction="inbound")
    store.add_turn("c1", TurnRecord("bot", "Thanks for calling. This call may be recorded."))
    store.call_ended("c1", outcome="caller_hangup")
    store.call_started("c2", direction="outbound")
    store.call_ended("c2", outcome="not_answered")
    rules = load_rules(FLOWS / "support_line.qa.yaml")
    score_ended_call(store, "c1", rules)
    score_ended_call(store, "c2", rules)
    c1, c2 = store.get("c1"), store.get("c2")
    assert c1 is not None and c1.quality is not None
    assert [f["rule"] for f in c1.quality["findings"] if f["status"] == "broken"] == ["resolved"]
    assert c2 is not None and c2.quality is None  # never answered: nothing to inspect


def test_a_failing_inspection_is_logged_not_raised(tmp_path, caplog):
    store = CallStore(tmp_path / "calls.db")
    store.call_started("c1", direction="inbound")
    store.call_ended("c1", outcome="completed")

    def gone(call_id: str) -> None:  # the worker's database went away under the call's feet
        raise ConnectionError("database gone")

    store.get = gone  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        score_ended_call(store, "c1", load_rules(FLOWS / "support_line.qa.yaml"))
    assert "c1: quality inspection failed (voicebot qa run can redo it)" in caplog.text


def test_a_broken_rules_file_is_logged_and_the_flow_goes_unscored(tmp_path, caplog):
    flow = tmp_path / "support_line.yaml"
    shutil.copy(FLOWS / "support_line.yaml", flow)
    assert flow_rules(flow) is None  # no rules beside it
    (tmp_path / "support_line.qa.yaml").write_text("version: 1\nrules:\n  - {id: a, weight: 1}\n")
    with caplog.at_level(logging.ERROR):
        assert flow_rules(flow) is None
    assert "support_line.qa.yaml:3:5: rules[0]: rule 'a' has no kind" in caplog.text
    shutil.copy(FLOWS / "support_line.qa.yaml", tmp_path / "support_line.qa.yaml")
    rules = flow_rules(flow)
    assert rules is not None and len(rules.rules) == 6
