//! `SELECT COUNT(*) FROM (<query>) AS bounded`: how many rows a query gives,
//! counted in the database. The history counts its matches so, with the
//! matches' query walking the page's index and stopping at a limit: one row
//! comes back, where loading the rows to count them would send them all.

use diesel::backend::Backend as DieselBackend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::BigInt;

/// The count of the rows of the query it wraps.
pub(crate) struct CountOf<Q>(pub Q);

impl<Q> QueryId for CountOf<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for CountOf<Q> {
    type SqlType = BigInt;
}

impl<Q, C> RunQueryDsl<C> for CountOf<Q> {}

impl<Q: QueryFragment<DB>, DB: DieselBackend> QueryFragment<DB> for CountOf<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("SELECT COUNT(*) FROM (");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(") AS bounded");
        Ok(())
    }
}
