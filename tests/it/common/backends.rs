//! Store tests run on both backends.

/// Runs each `case(&TestDb)` as two tests, `sqlite::case` and `postgres::case`,
/// each on a fresh database of its backend (the caller has `Kind` and `TestDb`
/// in scope).
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    if let Some(db) = super::TestDb::create(super::Kind::Sqlite) {
                        super::$case(&db);
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $case() {
                    if let Some(db) = super::TestDb::create(super::Kind::Postgres) {
                        super::$case(&db);
                    }
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;
