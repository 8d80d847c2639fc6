-- switchboard store, SQLite flavour. Timestamps are UTC, stored by diesel as text
-- ('YYYY-MM-DD HH:MM:SS.ffffff'), which sorts in time order.

CREATE TABLE extensions (
    pbx TEXT NOT NULL,
    extension TEXT NOT NULL,
    context TEXT NOT NULL,
    hint TEXT,
    name TEXT,
    status INTEGER NOT NULL,
    status_text TEXT NOT NULL,
    state TEXT NOT NULL,
    device_state TEXT,
    last_change TIMESTAMP NOT NULL,
    last_confirmed TIMESTAMP,
    PRIMARY KEY (pbx, extension)
);

CREATE TABLE extension_transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pbx TEXT NOT NULL,
    extension TEXT NOT NULL,
    status INTEGER NOT NULL,
    status_text TEXT NOT NULL,
    state TEXT NOT NULL,
    device_state TEXT,
    at TIMESTAMP NOT NULL
);
CREATE INDEX extension_transitions_pbx_extension_at ON extension_transitions (pbx, extension, at);
CREATE INDEX extension_transitions_at ON extension_transitions (at);

CREATE TABLE active_calls (
    pbx TEXT NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL,
    direction TEXT NOT NULL,
    caller_number TEXT,
    callee_number TEXT,
    started_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (pbx, id)
);
CREATE INDEX active_calls_started_at ON active_calls (started_at);

CREATE TABLE calls (
    pbx TEXT NOT NULL,
    id TEXT NOT NULL,
    direction TEXT NOT NULL,
    caller_number TEXT,
    caller_name TEXT,
    callee_number TEXT,
    callee_name TEXT,
    started_at TIMESTAMP NOT NULL,
    answered_at TIMESTAMP,
    ended_at TIMESTAMP,
    duration_secs REAL NOT NULL,
    talk_secs REAL NOT NULL,
    outcome TEXT,
    hangup_cause INTEGER,
    hangup_cause_text TEXT,
    transfers TEXT NOT NULL,
    queue TEXT,
    -- id first: the key legs refer to, and never confused with (pbx, started_at).
    PRIMARY KEY (id, pbx)
);
-- History is read newest first, optionally for one PBX. There are few PBXs, so
-- the started_at index serves the PBX filter too; an index led by pbx would add
-- nothing and, before PostgreSQL first analyses the table, gets picked for the
-- legs' foreign-key checks and scans every call of the PBX.
CREATE INDEX calls_started_at ON calls (started_at);
CREATE INDEX calls_caller_number ON calls (caller_number);
CREATE INDEX calls_callee_number ON calls (callee_number);

CREATE TABLE call_legs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pbx TEXT NOT NULL,
    call_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    uniqueid TEXT NOT NULL,
    channel TEXT NOT NULL,
    number TEXT,
    extension TEXT,
    state TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    answered_at TIMESTAMP,
    ended_at TIMESTAMP,
    hangup_cause INTEGER,
    hangup_cause_text TEXT,
    FOREIGN KEY (call_id, pbx) REFERENCES calls (id, pbx) ON DELETE CASCADE
);
CREATE INDEX call_legs_call ON call_legs (call_id, pbx);
CREATE INDEX call_legs_extension ON call_legs (extension);

CREATE TABLE refresh_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id TEXT NOT NULL,
    pbx TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    extensions_checked BIGINT NOT NULL,
    successful BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    corrections TEXT NOT NULL,
    error TEXT
);
CREATE INDEX refresh_runs_finished_at ON refresh_runs (finished_at);
