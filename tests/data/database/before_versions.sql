BEGIN TRANSACTION;
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    state TEXT NOT NULL,             -- dialing | done
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT,
    sip_status INTEGER,
    counts INTEGER NOT NULL DEFAULT 1,
    call_id TEXT,
    note TEXT NOT NULL DEFAULT ''
);
INSERT INTO "attempts" VALUES(1,1,1,'done','2026-11-23T15:00:00.000+00:00','2026-11-23T15:00:20.000+00:00','busy',486,1,NULL,'');
INSERT INTO "attempts" VALUES(2,1,2,'dialing','2026-11-23T15:00:30.000+00:00',NULL,NULL,NULL,1,NULL,'');
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
INSERT INTO "calls" VALUES('call-1','inbound','sip:a@x','','support_line.yaml','','2026-11-23T15:00:00.000+00:00',NULL,'2026-11-23T15:00:09.000+00:00','completed','',NULL,NULL,'[]','{}','{}','','["1.0 s: x"]');
CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    flow TEXT NOT NULL,
    contacts_file TEXT NOT NULL,
    columns TEXT NOT NULL,           -- JSON list of the CSV's columns
    settings TEXT NOT NULL,          -- JSON of CampaignSettings
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO "campaigns" VALUES(1,'reminders','/flows/reminder.yaml','reminders.csv','["phone", "name", "timezone"]','{"database":"var/campaigns.db","region":"US","dnc_file":null,"window":"08:00-21:00","weekdays":{},"max_concurrent":4,"cps":1.0,"burst":1,"max_attempts":3,"daily_cap":2,"retries":{"busy":{"retry":true,"backoff_minutes":10.0,"factor":2.0},"no_answer":{"retry":true,"backoff_minutes":60.0,"factor":1.0},"failed":{"retry":true,"backoff_minutes":30.0,"factor":1.0},"machine":{"retry":false,"backoff_minutes":240.0,"factor":1.0},"unknown":{"retry":true,"backoff_minutes":30.0,"factor":1.0}},"congestion_pause_seconds":5.0,"trunk":"sip:{number}@127.0.0.1:5080","ring_seconds":30.0}','running','2026-11-23T15:00:00.000+00:00','2026-11-23T15:00:00.000+00:00');
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    line INTEGER NOT NULL,
    phone TEXT NOT NULL,
    fields TEXT NOT NULL,            -- JSON: every column
    timezones TEXT NOT NULL,         -- space-separated IANA names
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TEXT,
    last_outcome TEXT,
    disposition TEXT,                -- NULL while the contact is still to be called
    slots TEXT NOT NULL DEFAULT '{}',
    vars TEXT NOT NULL DEFAULT '{}',
    call_id TEXT,
    UNIQUE (campaign_id, phone)
);
INSERT INTO "contacts" VALUES(1,1,2,'+12125550100','{"phone": "+12125550100", "name": "N0", "timezone": "America/New_York"}','America/New_York',1,'2026-11-23T15:10:20.000+00:00','busy',NULL,'{}','{}',NULL);
INSERT INTO "contacts" VALUES(2,1,3,'+12125550101','{"phone": "+12125550101", "name": "N1", "timezone": "America/New_York"}','America/New_York',0,NULL,NULL,NULL,'{}','{}',NULL);
INSERT INTO "contacts" VALUES(3,1,4,'+12125550102','{"phone": "+12125550102", "name": "N2", "timezone": "America/New_York"}','America/New_York',0,NULL,NULL,NULL,'{}','{}',NULL);
INSERT INTO "contacts" VALUES(4,1,5,'+12125550103','{"phone": "+12125550103", "name": "N3", "timezone": "America/New_York"}','America/New_York',0,NULL,NULL,'dnc','{}','{}',NULL);
CREATE TABLE dnc (
    number TEXT PRIMARY KEY,        -- E.164
    reason TEXT NOT NULL,
    source TEXT NOT NULL,           -- manual | file:NAME | campaign:NAME
    added_at TEXT NOT NULL
);
INSERT INTO "dnc" VALUES('+12125550103','asked','manual','2026-11-23T15:00:00.000+00:00');
CREATE TABLE rejects (
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    line INTEGER NOT NULL,
    raw TEXT NOT NULL,
    reason TEXT NOT NULL
);
INSERT INTO "rejects" VALUES(1,6,'12','invalid phone number ''12'' for region US (too short)');
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
    PRIMARY KEY (call_id, seq)
);
INSERT INTO "turns" VALUES('call-1',1,'2026-11-23T15:00:00.000+00:00','caller','two','',0.9,NULL,'');
CREATE INDEX attempts_by_contact ON attempts (contact_id);
CREATE INDEX attempts_dialing ON attempts (state);
CREATE INDEX calls_started ON calls (started_at);
COMMIT;
