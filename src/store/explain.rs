//! `EXPLAIN` of a diesel query, with its binds, on either backend: how the
//! query-plan tests and the benchmark see which indexes a history query uses.

use diesel::backend::Backend as DieselBackend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Integer, Text};

use super::connection::DbConnection;

type Db = <DbConnection as Connection>::Backend;

/// `EXPLAIN QUERY PLAN <query>` (SQLite: id, parent, unused, detail).
struct SqlitePlan<Q>(Q);

/// `EXPLAIN <query>` (PostgreSQL: one line of text per row).
struct PgPlan<Q>(Q);

macro_rules! explain_wrapper {
    ($name:ident, $prefix:expr, $sql_type:ty) => {
        impl<Q> QueryId for $name<Q> {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }

        impl<Q> Query for $name<Q> {
            type SqlType = $sql_type;
        }

        impl<Q, C> RunQueryDsl<C> for $name<Q> {}

        impl<Q: QueryFragment<DB>, DB: DieselBackend> QueryFragment<DB> for $name<Q> {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
                out.push_sql($prefix);
                self.0.walk_ast(out.reborrow())
            }
        }
    };
}

explain_wrapper!(
    SqlitePlan,
    "EXPLAIN QUERY PLAN ",
    (Integer, Integer, Integer, Text)
);
explain_wrapper!(PgPlan, "EXPLAIN ", Text);

/// The plan of `query`, one line per step.
pub(crate) fn plan_of<Q>(conn: &mut DbConnection, query: Q) -> QueryResult<Vec<String>>
where
    Q: QueryFragment<Db> + QueryId,
{
    match conn {
        DbConnection::Sqlite(_) => {
            let rows: Vec<(i32, i32, i32, String)> = SqlitePlan(query).load(conn)?;
            Ok(rows.into_iter().map(|(_, _, _, detail)| detail).collect())
        }
        DbConnection::Pg(_) => PgPlan(query).load(conn),
    }
}
