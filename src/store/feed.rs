//! The `change_feed` table: every state change a lease holder commits, in the same
//! transaction as the state itself, for the other instances to replay.
//!
//! Rows are appended with a `bigserial` id; only the holder of a PBX writes that
//! PBX's rows, one transaction at a time, so per PBX the ids are in commit order.
//! Each transaction ends with `pg_notify('switchboard_feed', <pbx>)` per PBX it
//! wrote, which PostgreSQL delivers on commit.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text, Timestamp};

/// The notification channel.
pub const CHANNEL: &str = "switchboard_feed";

/// One change as stored in the feed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeedRow {
    /// The PBX it belongs to.
    pub pbx: String,
    /// The change's WebSocket type (`call.updated`…) or `confirmed`.
    pub kind: String,
    /// The JSON payload (see `cluster::payload`).
    pub payload: String,
    /// The instance that wrote it.
    pub instance: String,
}

/// A stored row read back.
#[derive(Debug, Clone, QueryableByName)]
pub struct StoredRow {
    /// Position in the feed.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// The PBX.
    #[diesel(sql_type = Text)]
    pub pbx: String,
    /// The change's type.
    #[diesel(sql_type = Text)]
    pub kind: String,
    /// Its payload.
    #[diesel(sql_type = Text)]
    pub payload: String,
    /// Who wrote it.
    #[diesel(sql_type = Text)]
    pub instance: String,
}

#[derive(QueryableByName)]
struct MaxId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Appends `rows` in order (one statement) and notifies once per PBX. Runs in
/// the caller's transaction, so the rows and the notification are committed with
/// the state writes or not at all. The caller has left out the rows of PBXs
/// [`check_leases`] found unheld in the same transaction.
pub fn append(conn: &mut PgConnection, rows: &[&FeedRow]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&FeedRow) -> &str| rows.iter().map(|r| f(r).to_string()).collect::<Vec<_>>();
    diesel::sql_query(
        "INSERT INTO change_feed (pbx, kind, payload, instance) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
    )
    .bind::<Array<Text>, _>(col(|r| &r.pbx))
    .bind::<Array<Text>, _>(col(|r| &r.kind))
    .bind::<Array<Text>, _>(col(|r| &r.payload))
    .bind::<Array<Text>, _>(col(|r| &r.instance))
    .execute(conn)?;
    let mut pbxs: Vec<&str> = rows.iter().map(|r| r.pbx.as_str()).collect();
    pbxs.sort_unstable();
    pbxs.dedup();
    for pbx in pbxs {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(pbx)
            .execute(conn)?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct LeaseRow {
    #[diesel(sql_type = Text)]
    pbx: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    mine: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    elsewhere: bool,
}

/// Who holds the leases of a batch's PBXs, read inside the writing transaction.
#[derive(Debug, Default)]
pub struct LeaseCheck {
    /// PBXs whose lease the writing instance does not hold: their feed rows are
    /// left out (only a holder feeds the others).
    pub unheld: HashSet<String>,
    /// PBXs whose lease another instance holds now: their state writes are left
    /// out too, since they would overwrite what the new holder wrote. A PBX held
    /// by nobody (a lone instance catching up after a database outage, before it
    /// takes its leases again) keeps its state writes: they are what its
    /// subscribers were told, and dropping them would lose them.
    pub taken: HashSet<String>,
}

/// Checks the leases of the PBXs that `rows` (one batch's feed rows) name.
pub fn check_leases(conn: &mut PgConnection, rows: &[&FeedRow]) -> QueryResult<LeaseCheck> {
    let mut pairs: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.pbx.as_str(), r.instance.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    if pairs.is_empty() {
        return Ok(LeaseCheck::default());
    }
    // The fence (see `cluster::lease::Leases::try_acquire`): held until this
    // transaction commits, so no instance is granted these PBXs' leases while
    // writes checked against the old holder are still to land.
    let mut fenced: Vec<String> = pairs.iter().map(|(p, _)| p.to_string()).collect();
    fenced.dedup();
    diesel::sql_query(
        "INSERT INTO pbx_fence (pbx) SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT DO NOTHING",
    )
    .bind::<Array<Text>, _>(&fenced)
    .execute(conn)?;
    diesel::sql_query("SELECT pbx FROM pbx_fence WHERE pbx = ANY($1) ORDER BY pbx FOR SHARE")
        .bind::<Array<Text>, _>(&fenced)
        .execute(conn)?;
    let holders = "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
           WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND ((l.classid::bigint << 32) | l.objid::bigint) = t.key";
    let leases: Vec<LeaseRow> = diesel::sql_query(format!(
        "SELECT t.pbx, \
           EXISTS (SELECT 1 {holders} AND a.application_name = t.app) AS mine, \
           EXISTS (SELECT 1 {holders} AND a.application_name <> t.app) AS elsewhere \
         FROM unnest($1::text[], $2::bigint[], $3::text[]) AS t(pbx, key, app)"
    ))
    .bind::<Array<Text>, _>(pairs.iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(
        pairs
            .iter()
            .map(|(p, _)| super::lease_key::lock_key(p))
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Text>, _>(
        pairs
            .iter()
            .map(|(_, i)| format!("{}{i}", super::lease_key::LEASE_APP))
            .collect::<Vec<_>>(),
    )
    .load(conn)?;
    let mut check = LeaseCheck::default();
    for l in leases {
        if l.elsewhere {
            check.taken.insert(l.pbx.clone());
        }
        if !l.mine {
            check.unheld.insert(l.pbx);
        }
    }
    let unfed = rows
        .iter()
        .filter(|r| check.unheld.contains(&r.pbx))
        .count();
    let dropped = rows.iter().filter(|r| check.taken.contains(&r.pbx)).count();
    if dropped > 0 {
        log::warn!(
            "change feed: {dropped} changes neither fed nor stored: another instance holds their PBX now"
        );
    } else if unfed > 0 {
        log::warn!(
            "change feed: {unfed} changes stored but not fed: this instance does not hold their PBX's lease right now"
        );
    }
    Ok(check)
}

/// Up to `limit` rows of `pbx` after `after`, oldest first.
pub fn read_after(
    conn: &mut PgConnection,
    pbx: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<StoredRow>> {
    diesel::sql_query(
        "SELECT id, pbx, kind, payload, instance FROM change_feed \
         WHERE pbx = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind::<Text, _>(pbx)
    .bind::<BigInt, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
}

/// The last id written so far (0 for an empty feed): where a starting instance
/// begins to follow, having read the state tables after this.
pub fn last_id(conn: &mut PgConnection) -> QueryResult<i64> {
    let row: MaxId =
        diesel::sql_query("SELECT COALESCE(MAX(id), 0)::bigint AS id FROM change_feed")
            .get_result(conn)?;
    Ok(row.id)
}

/// Deletes at most `limit` of the oldest rows created before `cutoff` (one
/// short statement, so a prune of a big feed never holds the table for long;
/// the caller repeats while a full step came back); returns how many went.
pub fn prune_step(
    conn: &mut PgConnection,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM change_feed WHERE id IN \
         (SELECT id FROM change_feed WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
    )
    .bind::<Timestamp, _>(cutoff.naive_utc())
    .bind::<BigInt, _>(limit.max(1))
    .execute(conn)
}
