-- Call records as voicebot/call/records.py wrote them before schema versions were kept (a
-- warm transfer, barge-in, the turn model's score, a quality inspection): sqlite3's .dump.
BEGIN TRANSACTION;
CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    direction TEXT NOT NULL,
    from_uri TEXT NOT NULL DEFAULT '',
    to_uri TEXT NOT NULL DEFAULT '',
    flow TEXT NOT NULL DEFAULT '',
    worker TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    answered_at TEXT,
    ended_at TEXT,
    outcome TEXT NOT NULL DEFAULT 'in_progress',
    reason TEXT NOT NULL DEFAULT '',
    transfer_target TEXT,
    recording_path TEXT,
    steps TEXT NOT NULL DEFAULT '[]',
    slots TEXT NOT NULL DEFAULT '{}',
    vars TEXT NOT NULL DEFAULT '{}',
    dtmf TEXT NOT NULL DEFAULT '',
    incidents TEXT NOT NULL DEFAULT '[]'   -- failures, timeouts, watchdog: "12.3 s: what"
);
INSERT INTO "calls" VALUES('call-2','inbound','sip:caller@x','','support_line.yaml','w1','2026-12-01T09:00:00.000+00:00','2026-12-01T09:00:01.000+00:00','2026-12-01T09:00:09.000+00:00','transferred','','sip:agent@x',NULL,'["greet"]','{}','{}','','[]');
CREATE TABLE quality (    -- the call's quality inspection (voicebot/quality/)
    call_id TEXT PRIMARY KEY REFERENCES calls (id),
    scored_at TEXT NOT NULL,
    rules TEXT NOT NULL,                -- the rules file
    score REAL,                         -- 0..100; NULL when no rule could be measured
    findings TEXT NOT NULL DEFAULT '[]' -- [{rule, status, turn, detail, weight}]
);
INSERT INTO "quality" VALUES('call-2','2026-12-02T14:23:19.798+00:00','support.qa.yaml',80.0,'[{"detail": "d", "rule": "greets", "status": "kept", "turn": 1, "weight": 1.0}]');
CREATE TABLE transfers (   -- the last transfer of a call, for the agent
    call_id TEXT PRIMARY KEY REFERENCES calls (id),
    at TEXT NOT NULL,
    mode TEXT NOT NULL,         -- blind | warm
    target TEXT NOT NULL,
    summary TEXT NOT NULL,      -- call.summary when the transfer began
    outcome TEXT,               -- ok | busy | no_answer | failed; NULL while it runs
    join_ms REAL                -- warm, ok: from the agent accepting to the join
);
INSERT INTO "transfers" VALUES('call-2','2026-12-02T14:23:19.795+00:00','warm','sip:agent@x','wants an agent','ok',850.0);
CREATE TABLE turns (
    call_id TEXT NOT NULL REFERENCES calls (id),
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    who TEXT NOT NULL,          -- caller | bot
    text TEXT NOT NULL DEFAULT '',
    dtmf TEXT NOT NULL DEFAULT '',
    confidence REAL,
    latency_ms REAL,            -- bot turns: end of caller speech to first bot audio
    step TEXT NOT NULL DEFAULT '',
    barge_in INTEGER NOT NULL DEFAULT 0,  -- caller turns: 1 when the caller talked over the bot
    end_of_turn TEXT NOT NULL DEFAULT '',  -- caller turns: complete | turn | timeout | max_speech
    turn_score REAL,            -- caller turns: the turn model's score (P finished), if asked
    PRIMARY KEY (call_id, seq)
);
INSERT INTO "turns" VALUES('call-2',1,'2026-12-01T09:00:01.000+00:00','bot','Thanks for calling','',NULL,420.0,'greet',0,'',NULL);
INSERT INTO "turns" VALUES('call-2',2,'2026-12-01T09:00:03.000+00:00','caller','agent please','',0.8,NULL,'greet',1,'turn',0.93);
CREATE INDEX calls_started ON calls (started_at);
COMMIT;
