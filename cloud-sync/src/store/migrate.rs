//! Versioned schema migrations, one SQL file per version and engine
//! (`migrations/<engine>/NNNN_name.sql`), applied in one transaction with the
//! version table locked, so two central processes starting together apply each
//! once and the second finds nothing to do. A schema newer than this binary is
//! refused rather than used.

use super::sql::{Engine, Tx};
use super::{CentralStore, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
    /// A data step that runs after the SQL, in the same transaction.
    data: Option<DataStep>,
}

type DataStep = fn(&mut Tx<'_>) -> Result<(), StoreError>;

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sqlite: include_str!("migrations/sqlite/0001_init.sql"),
        postgres: include_str!("migrations/postgres/0001_init.sql"),
        data: None,
    },
    Migration {
        version: 2,
        name: "shipments",
        sqlite: include_str!("migrations/sqlite/0002_shipments.sql"),
        postgres: include_str!("migrations/postgres/0002_shipments.sql"),
        data: Some(crate::orders::upgrade_schema1_orders),
    },
    Migration {
        version: 3,
        name: "carriers",
        sqlite: include_str!("migrations/sqlite/0003_carriers.sql"),
        postgres: include_str!("migrations/postgres/0003_carriers.sql"),
        data: None,
    },
];

/// The schema version this binary writes and reads.
pub const SCHEMA_VERSION: i64 = 3;

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
     version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The version before this call.
    pub found: i64,
    /// Versions this call applied.
    pub applied: Vec<i64>,
}

impl CentralStore {
    /// Brings the schema to [`SCHEMA_VERSION`].
    pub fn migrate(&self) -> Result<SchemaStatus, StoreError> {
        // Two processes creating the version table at the same moment: one of
        // them gets a unique violation from the catalog, or "relation" or "type
        // already exists" (`IF NOT EXISTS` checks before the other commits),
        // and tries again.
        for attempt in 0..3 {
            match self.write(|tx| tx.batch(VERSION_TABLE)) {
                Err(e) if (e.is_unique_violation() || e.is_duplicate_table()) && attempt < 2 => continue,
                other => {
                    other?;
                    break;
                }
            }
        }
        self.write(|tx| {
            if tx.engine() == Engine::Postgres {
                // Held to the commit: a second process waits here, then finds
                // every version applied. (SQLite's write transaction is exclusive.)
                tx.batch("LOCK TABLE schema_migrations IN SHARE ROW EXCLUSIVE MODE")?;
            }
            let found = current_version(tx)?;
            if found > SCHEMA_VERSION {
                return Err(StoreError::SchemaTooNew {
                    found,
                    known: SCHEMA_VERSION,
                });
            }
            let mut applied = Vec::new();
            let pending: Vec<&Migration> = MIGRATIONS.iter().filter(|m| m.version > found).collect();
            // Every version's tables first, then the data steps in order: a
            // data step runs today's domain code, which may read tables a
            // later version adds (upgrading schema-1 orders computes their
            // status, which reads the carrier events of version 3).
            for m in &pending {
                tx.batch(match tx.engine() {
                    Engine::Sqlite => m.sqlite,
                    Engine::Postgres => m.postgres,
                })?;
            }
            for m in &pending {
                if let Some(data) = m.data {
                    data(tx)?;
                }
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_ms) VALUES ($1, $2, $3)",
                    &[
                        m.version.into(),
                        m.name.into(),
                        chrono::Utc::now().timestamp_millis().into(),
                    ],
                )?;
                applied.push(m.version);
            }
            Ok(SchemaStatus { found, applied })
        })
    }

    /// The schema version the store holds (0 when empty).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|tx| {
            let exists = match tx.engine() {
                Engine::Sqlite => tx
                    .query_opt(
                        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
                        &[],
                    )?
                    .is_some(),
                Engine::Postgres => tx
                    .query_opt("SELECT 1 FROM pg_tables WHERE tablename = 'schema_migrations'", &[])?
                    .is_some(),
            };
            if exists { current_version(tx) } else { Ok(0) }
        })
    }
}

fn current_version(tx: &mut Tx<'_>) -> Result<i64, StoreError> {
    tx.query_opt(
        "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM schema_migrations",
        &[],
    )?
    .map_or(Ok(0), |r| r.i64(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_and_the_last_is_the_schema_version() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }

    /// A store of schema 1 holding an order (protobuf body) upgrades to
    /// today's schema in one go: the order gets its shipment, parcel rows and
    /// status (which reads tables of later versions).
    #[test]
    fn a_schema_1_store_with_orders_upgrades_to_the_latest() {
        use prost::Message;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CentralStore::connect(&crate::store::StoreOptions::sqlite_in(dir.path())).expect("connect");
        let order = waymark_proto::v1::Order {
            order_number: "SO-1".into(),
            site_id: "dc-1".into(),
            parcels: vec![waymark_proto::v1::Parcel {
                parcel_id: "SO-1-1".into(),
                sscc: "106141412345678908".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        store
            .write(|tx| {
                tx.batch(VERSION_TABLE)?;
                tx.batch(MIGRATIONS[0].sqlite)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (1, 'init', 0)",
                    &[],
                )?;
                tx.execute(
                    "INSERT INTO orders (order_number, site_id, created_ms, body) VALUES ('SO-1', 'dc-1', 5, $1)",
                    &[order.encode_to_vec().as_slice().into()],
                )?;
                tx.execute(
                    "INSERT INTO order_identifiers (identifier, order_number) VALUES ('106141412345678908', 'SO-1')",
                    &[],
                )?;
                Ok::<_, StoreError>(())
            })
            .expect("schema 1 with an order");
        let status = store.migrate().expect("upgrade");
        assert_eq!(status.found, 1);
        assert_eq!(status.applied, (2..=SCHEMA_VERSION).collect::<Vec<_>>());
        let order = store.order("SO-1").expect("read").expect("the order is there");
        assert_eq!(order.shipments.len(), 1);
        assert_eq!(order.shipments[0].parcels[0].parcel_id, "SO-1-1");
    }
}
