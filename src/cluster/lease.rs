//! [`Leases`]: one PostgreSQL advisory lock per PBX, held on a dedicated session.
//!
//! The lock of PBX `N` is `pg_try_advisory_lock(key("switchboard:pbx:N"))`. It
//! belongs to the session: when the process dies, PostgreSQL sees the socket close
//! and frees it, and another instance's next attempt wins. The session is named
//! `switchboard:<INSTANCE_ID>` (`application_name`), so `pg_locks` joined with
//! `pg_stat_activity` tells who holds what. Losing the session loses every lock:
//! the caller must stop using those PBXs at once.

use std::collections::HashMap;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};

use super::ClusterError;
use crate::store::lease_key::{lock_key, LEASE_APP};

/// `url` with `application_name` set (added to any query string).
pub fn with_application_name(url: &str, name: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{url}{sep}application_name={encoded}")
}

#[derive(QueryableByName)]
struct Acquired {
    #[diesel(sql_type = Bool)]
    ok: bool,
}

#[derive(QueryableByName)]
struct Holder {
    #[diesel(sql_type = BigInt)]
    key: i64,
    #[diesel(sql_type = Text)]
    app: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The dedicated lease session of this instance.
pub struct Leases {
    conn: PgConnection,
}

impl Leases {
    /// Opens the lease session for `instance` on the database `url`.
    pub fn connect(url: &str, instance: &str) -> Result<Self, ClusterError> {
        let url = with_application_name(url, &format!("{LEASE_APP}{instance}"));
        let mut conn = PgConnection::establish(&url)?;
        // A lease session never waits on anything: fail fast rather than hang.
        conn.batch_execute("SET statement_timeout = 2000")?;
        Ok(Self { conn })
    }

    /// Tries to take `pbx`'s lock without waiting long; true when this session
    /// now holds it.
    ///
    /// A free lock is taken behind the PBX's fence row (`pbx_fence`, locked FOR
    /// UPDATE in the same transaction): a writing transaction of the previous
    /// holder holds that row FOR SHARE from its lease check to its commit, so the
    /// lock is granted only once those writes are in, and none of them can land
    /// over this instance's. A lock someone holds is not tried behind the fence
    /// (that would hold up the holder's writes for nothing). A fence still held
    /// after `lock_timeout` counts as not taken; the next round tries again.
    pub fn try_acquire(&mut self, pbx: &str) -> Result<bool, ClusterError> {
        if self.holders(&[pbx.to_string()])?.0.contains_key(pbx) {
            return Ok(false);
        }
        let taken = self.conn.transaction(|conn| {
            conn.batch_execute("SET LOCAL lock_timeout = 1000")?;
            diesel::sql_query("INSERT INTO pbx_fence (pbx) VALUES ($1) ON CONFLICT DO NOTHING")
                .bind::<Text, _>(pbx)
                .execute(conn)?;
            diesel::sql_query("SELECT pbx FROM pbx_fence WHERE pbx = $1 FOR UPDATE")
                .bind::<Text, _>(pbx)
                .execute(conn)?;
            diesel::sql_query("SELECT pg_try_advisory_lock($1) AS ok")
                .bind::<BigInt, _>(lock_key(pbx))
                .get_result::<Acquired>(conn)
        });
        match taken {
            Ok(row) => Ok(row.ok),
            // The fence is still held (a write of the old holder in flight).
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("lock timeout") =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Gives `pbx`'s lock back (a clean shutdown).
    pub fn release(&mut self, pbx: &str) -> Result<(), ClusterError> {
        diesel::sql_query("SELECT pg_advisory_unlock($1) AS ok")
            .bind::<BigInt, _>(lock_key(pbx))
            .get_result::<Acquired>(&mut self.conn)?;
        Ok(())
    }

    /// Who holds each of `pbxs` now (instance ids, from the holders' session names),
    /// and how many lease sessions are connected to this database.
    pub fn holders(
        &mut self,
        pbxs: &[String],
    ) -> Result<(HashMap<String, String>, usize), ClusterError> {
        let rows: Vec<Holder> = diesel::sql_query(
            "SELECT ((l.classid::bigint << 32) | l.objid::bigint) AS key, \
                    a.application_name AS app \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .load(&mut self.conn)?;
        let by_key: HashMap<i64, String> = rows
            .into_iter()
            .map(|h| {
                let id = h.app.strip_prefix(LEASE_APP).unwrap_or(&h.app).to_string();
                (h.key, id)
            })
            .collect();
        let held = pbxs
            .iter()
            .filter_map(|p| by_key.get(&lock_key(p)).map(|id| (p.clone(), id.clone())))
            .collect();
        let sessions: Count = diesel::sql_query(
            "SELECT count(*)::bigint AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name LIKE 'switchboard:%'",
        )
        .get_result(&mut self.conn)?;
        Ok((held, sessions.n.max(1) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_name_is_appended_and_encoded() {
        assert_eq!(
            with_application_name("postgres://h/db", "switchboard:a b"),
            "postgres://h/db?application_name=switchboard%3Aa%20b"
        );
        assert_eq!(
            with_application_name("postgres://h/db?sslmode=disable", "x"),
            "postgres://h/db?sslmode=disable&application_name=x"
        );
    }
}
