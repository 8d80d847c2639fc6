//! Which instance wrote which row: audit triggers on the state and feed tables of a
//! [`Cluster`]'s database, for tests that prove a fenced instance stops writing.

use super::{Cluster, PBXS};

/// One row change of a state or feed table, as the audit triggers of
/// [`Cluster::audit_writes`] recorded it.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct AuditedWrite {
    /// The writing instance (`INSTANCE_ID`).
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub instance: String,
    /// The table written.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub tbl: String,
    /// The operation: read only through `Debug`, in the failure messages that
    /// list the offending writes.
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[allow(dead_code)]
    pub op: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub pbx: String,
    /// Whether the writer held the PBX's lease when the row changed.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub held: bool,
    /// Whether another instance held the PBX's lease when the row changed.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub elsewhere: bool,
    /// Microseconds since the Unix epoch, database clock.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub at_us: i64,
}

/// `application_name` of an instance's store connections (set in its
/// `DATABASE_URL`), which the audit triggers read to tell the writers apart.
pub const STORE_APP: &str = "switchboard-store:";

/// The state and feed tables, audited by [`Cluster::audit_writes`].
const AUDITED: [&str; 6] = [
    "extensions",
    "extension_transitions",
    "active_calls",
    "calls",
    "call_legs",
    "change_feed",
];

impl Cluster {
    /// Installs row triggers on every state and feed table that record which
    /// instance changed a row of which PBX, and whether that instance's lease
    /// session held the PBX's lease at that moment (feed pruning is not recorded).
    /// Call once the instances have migrated the database.
    pub fn audit_writes(&self) {
        use diesel::connection::SimpleConnection;
        use diesel::prelude::*;
        let mut conn = PgConnection::establish(&self.db.url).expect("database connection");
        let keys: Vec<String> = PBXS
            .iter()
            .map(|p| format!("('{p}', {})", switchboard::store::lease_key::lock_key(p)))
            .collect();
        let mut sql = format!(
            "CREATE TABLE write_audit (instance TEXT NOT NULL, tbl TEXT NOT NULL, \
               op TEXT NOT NULL, pbx TEXT NOT NULL, held BOOLEAN NOT NULL, elsewhere BOOLEAN NOT NULL, \
               at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp());
             CREATE TABLE lease_keys (pbx TEXT PRIMARY KEY, key BIGINT NOT NULL);
             INSERT INTO lease_keys VALUES {};
             CREATE FUNCTION audit_write() RETURNS trigger AS $$
             DECLARE
               app TEXT := current_setting('application_name');
               inst TEXT;
               p TEXT;
             BEGIN
               IF left(app, {len}) <> '{STORE_APP}' THEN RETURN NULL; END IF;
               inst := substr(app, {len} + 1);
               IF TG_OP = 'DELETE' THEN p := OLD.pbx; ELSE p := NEW.pbx; END IF;
               INSERT INTO write_audit (instance, tbl, op, pbx, held, elsewhere)
               SELECT inst, TG_TABLE_NAME, TG_OP, p, EXISTS (
                 SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 JOIN lease_keys k ON k.pbx = p
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND ((l.classid::bigint << 32) | l.objid::bigint) = k.key
                   AND a.application_name = 'switchboard:' || inst), EXISTS (
                 SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 JOIN lease_keys k ON k.pbx = p
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND ((l.classid::bigint << 32) | l.objid::bigint) = k.key
                   AND a.application_name <> 'switchboard:' || inst);
               RETURN NULL;
             END $$ LANGUAGE plpgsql;",
            keys.join(", "),
            len = STORE_APP.len(),
        );
        for table in AUDITED {
            let ops = if table == "change_feed" {
                "INSERT OR UPDATE"
            } else {
                "INSERT OR UPDATE OR DELETE"
            };
            sql.push_str(&format!(
                "CREATE TRIGGER audit_{table} AFTER {ops} ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION audit_write();"
            ));
        }
        conn.batch_execute(&sql).expect("audit triggers installed");
    }

    /// The database's clock now, in microseconds since the Unix epoch.
    pub fn db_now_us(&self) -> i64 {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Now {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            us: i64,
        }
        let mut conn = PgConnection::establish(&self.db.url).expect("database connection");
        let now: Now = diesel::sql_query(
            "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS us",
        )
        .get_result(&mut conn)
        .expect("the database's clock");
        now.us
    }

    /// Every audited row change since `since_us` (see [`Self::db_now_us`]), oldest first.
    pub fn audited_writes(&self, since_us: i64) -> Vec<AuditedWrite> {
        use diesel::prelude::*;
        let mut conn = PgConnection::establish(&self.db.url).expect("database connection");
        diesel::sql_query(
            "SELECT instance, tbl, op, pbx, held, elsewhere, \
               (extract(epoch FROM at) * 1000000)::bigint AS at_us \
             FROM write_audit WHERE at >= to_timestamp($1::double precision / 1000000) \
             ORDER BY at",
        )
        .bind::<diesel::sql_types::BigInt, _>(since_us)
        .load(&mut conn)
        .expect("the audit")
    }
}
