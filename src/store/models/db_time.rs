//! [`DbTime`]: a timestamp on its way into the database.
//!
//! Rows are written with this type rather than `NaiveDateTime` so the SQLite text
//! comes from [`crate::timefmt::sqlite_text`] (the very text diesel writes; that
//! function says why). PostgreSQL gets diesel's own binary encoding. Reading back
//! stays `NaiveDateTime`.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Timestamp;
use diesel::sqlite::Sqlite;

/// A naive UTC instant bound as a `Timestamp` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::AsExpression)]
#[diesel(sql_type = Timestamp)]
pub struct DbTime(pub NaiveDateTime);

impl ToSql<Timestamp, Sqlite> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(crate::timefmt::sqlite_text(&self.0));
        Ok(IsNull::No)
    }
}

impl ToSql<Timestamp, Pg> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <NaiveDateTime as ToSql<Timestamp, Pg>>::to_sql(&self.0, out)
    }
}
