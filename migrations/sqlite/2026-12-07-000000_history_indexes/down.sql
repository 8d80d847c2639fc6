DROP TABLE call_parties;
DROP INDEX calls_started_at_id;
DROP INDEX calls_pbx_started_at_id;
CREATE INDEX calls_started_at ON calls (started_at);
CREATE INDEX calls_caller_number ON calls (caller_number);
CREATE INDEX calls_callee_number ON calls (callee_number);
CREATE INDEX call_legs_extension ON call_legs (extension);
