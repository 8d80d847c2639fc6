DROP TABLE refresh_runs;
DROP TABLE call_legs;
DROP TABLE calls;
DROP TABLE active_calls;
DROP TABLE extension_transitions;
DROP TABLE extensions;
