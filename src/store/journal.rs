//! The journal: writes the database could not take yet, in a file next to the
//! store (or in `JOURNAL_DIR`), so neither a shutdown during an outage nor a long
//! outage loses them.
//!
//! - The writer appends to it when its in-memory backlog passes its bound during
//!   an outage, and at shutdown with what the grace period could not flush.
//!   Each append is one *segment* (a random id), written whole and `fsync`ed
//!   (the file and its directory) before the ops leave memory.
//! - Replay applies the journal in file order, in chunks of [`CHUNK`] ops, each
//!   in one transaction together with a marker row (`journal_chunks`) naming the
//!   chunk. A chunk whose marker is already there is skipped, so a replay
//!   interrupted anywhere (even by SIGKILL) resumes without applying anything
//!   twice. The file is removed once every chunk is in.
//!
//! - Each line names the database it was written for (`store_identity`, a
//!   random id each database gets from its migrations). Replay refuses a
//!   journal written for another database and leaves it in place
//!   ([`JournalError::Foreign`]): a journal left in a directory is never
//!   applied to whichever database the next service there happens to use.
//!
//! Format: one JSON object a line, `{"s": segment, "n": index, "db": id, "op":
//! WriteOp}`, the op in the model's own JSON (the API's), whose instants keep
//! milliseconds: a journaled call is stored with its times to the millisecond.
//! Lines without `db` (written before it existed) replay into any database.
//! A last line without its newline (a crash mid-append, whose ops were then still
//! in memory and are lost with it) is ignored with a warning.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::connection::DbConnection;
use super::ops::WriteOp;
use super::schema::journal_chunks;

/// Ops applied per transaction on replay (and per marker).
pub const CHUNK: u64 = 2000;

/// The journal's file name inside its directory.
pub const FILE_NAME: &str = "switchboard.journal";

/// One line of the journal.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    /// The segment (one append) it belongs to.
    s: String,
    /// Its index inside the segment.
    n: u64,
    /// The identity of the database it was written for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    db: Option<String>,
    /// The write.
    op: WriteOp,
}

/// Where a store's journal lives: `JOURNAL_DIR` when set, else the directory
/// of the SQLite file, else (PostgreSQL, in-memory SQLite) the working directory.
pub fn path_for(database_url: &str, journal_dir: Option<&Path>) -> PathBuf {
    if let Some(dir) = journal_dir {
        return dir.join(FILE_NAME);
    }
    let target = super::connection::Target::parse(database_url);
    if target.backend == super::Backend::Sqlite && !target.address.contains(":memory:") {
        let file = target.address.trim_start_matches("file:");
        let file = file.split('?').next().unwrap_or(file);
        if let Some(dir) = Path::new(file).parent() {
            return dir.join(FILE_NAME);
        }
    }
    PathBuf::from(FILE_NAME)
}

/// Why the journal could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file (or its directory) could not be written, read or synced.
    #[error("journal {path}: {source}")]
    Io {
        /// The journal's path.
        path: String,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// A line in the middle of the file is not a journal line.
    #[error("journal {path}, line {line}: {message}")]
    Corrupt {
        /// The journal's path.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The parser's reason.
        message: String,
    },
    /// The journal was written for another database.
    #[error(
        "journal {path} was written for another database (identity {written_for}; this \
         database is {this}): it is left as it is. Start the service on the database it \
         was written for to replay it, or move the file away to start without it"
    )]
    Foreign {
        /// The journal's path.
        path: String,
        /// The identity its lines name.
        written_for: String,
        /// The identity of the database it was about to be replayed into.
        this: String,
    },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Appends `ops`, written for the database whose identity is `database`, as
/// one segment and syncs it to disk before returning.
pub fn append(path: &Path, ops: &[WriteOp], database: &str) -> Result<(), JournalError> {
    if ops.is_empty() {
        return Ok(());
    }
    let segment = format!("{:016x}", rand::random::<u64>());
    let mut text = String::new();
    for (n, op) in ops.iter().enumerate() {
        let line = Line {
            s: segment.clone(),
            n: n as u64,
            db: Some(database.to_string()),
            op: op.clone(),
        };
        let json = serde_json::to_string(&line).map_err(|e| JournalError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        text.push_str(&json);
        text.push('\n');
    }
    let existed = path.exists();
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io(path))?;
    file.write_all(text.as_bytes()).map_err(io(path))?;
    file.sync_all().map_err(io(path))?;
    if !existed {
        sync_dir(path)?;
    }
    Ok(())
}

/// Syncs the directory entry of `path` (a new or removed file survives a crash).
fn sync_dir(path: &Path) -> Result<(), JournalError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(path))
}

/// A chunk of the journal as replay applies it.
#[derive(Debug)]
pub struct Chunk {
    /// The marker naming it (`segment:chunk`).
    pub key: String,
    /// Its ops, in order.
    pub ops: Vec<WriteOp>,
}

/// A journal as read: its chunks and the databases its lines were written for.
#[derive(Debug)]
pub struct Journal {
    /// The chunks, in file order.
    pub chunks: Vec<Chunk>,
    /// Each database identity its lines name, once, in order of first line.
    pub databases: Vec<String>,
}

impl Journal {
    /// Refuses the journal when a line was written for a database other than
    /// `this` (lines that name none pass).
    pub fn check_database(&self, path: &Path, this: &str) -> Result<(), JournalError> {
        match self.databases.iter().find(|db| *db != this) {
            Some(other) => Err(JournalError::Foreign {
                path: path.display().to_string(),
                written_for: other.clone(),
                this: this.to_string(),
            }),
            None => Ok(()),
        }
    }
}

/// Reads the journal, in file order (`None`: there is no journal).
pub fn read(path: &Path) -> Result<Option<Journal>, JournalError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut databases: Vec<String> = Vec::new();
    let mut reader = BufReader::new(file);
    let mut number = 0;
    let mut text = String::new();
    loop {
        text.clear();
        let read = reader.read_line(&mut text).map_err(io(path))?;
        if read == 0 {
            break;
        }
        number += 1;
        if !text.ends_with('\n') {
            log::warn!(
                "journal {}: ignoring an unfinished last line (a crash while appending)",
                path.display()
            );
            break;
        }
        let line: Line = serde_json::from_str(&text).map_err(|e| JournalError::Corrupt {
            path: path.display().to_string(),
            line: number,
            message: e.to_string(),
        })?;
        if let Some(db) = line.db {
            if !databases.contains(&db) {
                databases.push(db);
            }
        }
        let key = format!("{}:{}", line.s, line.n / CHUNK);
        match chunks.last_mut() {
            Some(last) if last.key == key => last.ops.push(line.op),
            _ => chunks.push(Chunk {
                key,
                ops: vec![line.op],
            }),
        }
    }
    Ok(Some(Journal { chunks, databases }))
}

/// Removes the journal once it is fully applied.
pub fn remove(path: &Path) -> Result<(), JournalError> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_dir(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path)(e)),
    }
}

/// Applies one chunk with its marker in one transaction; `false` when its
/// marker says an earlier replay already applied it.
pub fn apply_chunk(
    conn: &mut DbConnection,
    chunk: &Chunk,
    now: chrono::DateTime<chrono::Utc>,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let done: i64 = journal_chunks::table
            .filter(journal_chunks::chunk.eq(&chunk.key))
            .count()
            .get_result(conn)?;
        if done > 0 {
            return Ok(false);
        }
        super::ops::apply(conn, &chunk.ops, now)?;
        diesel::insert_into(journal_chunks::table)
            .values((
                journal_chunks::chunk.eq(&chunk.key),
                journal_chunks::applied_at.eq(super::models::to_db_time(now)),
            ))
            .execute(conn)?;
        Ok(true)
    })
}

/// How many ops of each kind `ops` holds, for the log line of ops that could be
/// written nowhere (`finishedCall=12 transition=40`).
pub fn count_by_kind(ops: &[WriteOp]) -> String {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for op in ops {
        let kind = op.kind();
        match counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((kind, 1)),
        }
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ExtensionState, ExtensionTransition, HintStatus};
    use chrono::Utc;

    fn op(n: usize) -> WriteOp {
        WriteOp::Transition(ExtensionTransition {
            pbx: "default".into(),
            extension: format!("{}", 1000 + n),
            status: HintStatus::IDLE,
            status_text: "Idle".into(),
            state: ExtensionState::Idle,
            device_state: None,
            // The model's JSON keeps milliseconds (as the API shows them).
            at: chrono::DateTime::<Utc>::from_timestamp_millis(1_767_000_000_123 + n as i64)
                .unwrap_or_default(),
        })
    }

    #[test]
    fn segments_read_back_in_order_in_chunks() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(FILE_NAME);
        assert!(read(&path).expect("read").is_none());
        let first: Vec<WriteOp> = (0..(CHUNK as usize + 5)).map(op).collect();
        let second: Vec<WriteOp> = (0..3).map(op).collect();
        append(&path, &first, "db-a").expect("append");
        append(&path, &second, "db-a").expect("append");
        let journal = read(&path).expect("read").expect("a journal");
        assert_eq!(journal.databases, vec!["db-a".to_string()]);
        let chunks = journal.chunks;
        let sizes: Vec<usize> = chunks.iter().map(|c| c.ops.len()).collect();
        assert_eq!(sizes, vec![CHUNK as usize, 5, 3]);
        let all: Vec<WriteOp> = chunks.into_iter().flat_map(|c| c.ops).collect();
        assert_eq!(all, [first, second].concat());
        remove(&path).expect("remove");
        assert!(!path.exists());
    }

    #[test]
    fn an_unfinished_last_line_is_ignored_and_a_bad_middle_line_is_not() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(FILE_NAME);
        append(&path, &[op(1), op(2)], "db-a").expect("append");
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"{\"s\":\"torn").expect("write");
        let chunks = read(&path).expect("read").expect("a journal").chunks;
        assert_eq!(chunks.iter().map(|c| c.ops.len()).sum::<usize>(), 2);
        f.write_all(b"\n{}\n").expect("write");
        assert!(matches!(
            read(&path),
            Err(JournalError::Corrupt { line: 3, .. })
        ));
    }

    #[test]
    fn a_journal_is_refused_by_another_database_and_an_old_one_by_none() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(FILE_NAME);
        append(&path, &[op(1)], "db-a").expect("append");
        let journal = read(&path).expect("read").expect("a journal");
        assert!(journal.check_database(&path, "db-a").is_ok());
        let refused = journal.check_database(&path, "db-b");
        assert!(
            matches!(&refused, Err(JournalError::Foreign { written_for, this, .. })
                if written_for == "db-a" && this == "db-b"),
            "{refused:?}"
        );
        // Two databases in one file (appended by services on different
        // databases): refused by either.
        append(&path, &[op(2)], "db-b").expect("append");
        let journal = read(&path).expect("read").expect("a journal");
        assert_eq!(
            journal.databases,
            vec!["db-a".to_string(), "db-b".to_string()]
        );
        assert!(journal.check_database(&path, "db-a").is_err());
        assert!(journal.check_database(&path, "db-b").is_err());
        // A line from before the identity (no `db`) replays anywhere.
        let old = dir.path().join("old.journal");
        let line = serde_json::json!({"s": "0a", "n": 0, "op": op(3)});
        std::fs::write(&old, format!("{line}\n")).expect("write");
        let journal = read(&old).expect("read").expect("a journal");
        assert!(journal.databases.is_empty());
        assert!(journal.check_database(&old, "db-b").is_ok());
        assert_eq!(journal.chunks[0].ops, vec![op(3)]);
    }

    #[test]
    fn the_journal_lives_next_to_the_sqlite_file_unless_told() {
        assert_eq!(
            path_for("sqlite:///var/lib/sb/switchboard.db", None),
            PathBuf::from("/var/lib/sb").join(FILE_NAME)
        );
        assert_eq!(
            path_for("postgres://u@h/d", Some(Path::new("/srv/j"))),
            PathBuf::from("/srv/j").join(FILE_NAME)
        );
    }
}
