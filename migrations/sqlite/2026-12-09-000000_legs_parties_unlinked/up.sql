-- Nothing to change on SQLite: it checks call_legs' and call_parties' foreign
-- keys through calls' primary key, whatever else is indexed (PostgreSQL's part of
-- this migration drops them, see there). The store deletes a call's legs and
-- parties itself on both backends; here the cascade finds none left.
SELECT 1;
