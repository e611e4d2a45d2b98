//! The per-database harness of the store tests (`store_contract.rs`,
//! `store_users.rs`, `store_customers.rs`): every case runs against SQLite
//! (a temp file) and PostgreSQL (a fresh `hibiki_test_<random>` database
//! on 127.0.0.1:5432, dropped afterwards, also when the case fails).
//!
//! When PostgreSQL does not answer, its half prints
//! `SKIPPED postgres: <reason>` and passes — unless
//! `HIBIKI_TEST_POSTGRES=required`, in which case it fails.
//! `HIBIKI_TEST_POSTGRES_URL` points the tests at another server (its
//! user must be allowed to create databases).
//!
//! A test file says `#[macro_use] mod store_harness;` and lists its cases
//! with `contract!(case_a, case_b, …)`; each case is an
//! `async fn(Store)`.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use hibiki::store::Store;
use sqlx::Connection;

/// The administrative connection: `HIBIKI_TEST_POSTGRES_URL` or the local
/// trust-auth default. Test databases are created next to its database.
fn pg_admin_url() -> String {
    std::env::var("HIBIKI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The admin URL with its database name replaced.
fn pg_url_for(database: &str) -> String {
    let admin = pg_admin_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{database}")
}

// ---------------------------------------------------------------- backends

/// A SQLite store in a temp directory (in a subdirectory that does not
/// exist yet, to exercise directory creation).
pub async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/hibiki.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url, 4).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    assert!(path.exists(), "database file created");
    store.migrate().await.unwrap();
    (store, dir)
}

/// Drops the test database when the case ends, however it ends.
struct PgDatabase {
    name: String,
    store: Store,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; do the async work on a
        // thread of its own and wait for it.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut admin = sqlx::PgConnection::connect(&pg_admin_url()).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!(
                "could not drop test database {}: thread panicked",
                self.name
            ),
        }
    }
}

/// A fresh, migrated PostgreSQL database, or `None` (after printing why)
/// when PostgreSQL is not reachable and not required.
async fn pg_database() -> Option<PgDatabase> {
    let required = std::env::var("HIBIKI_TEST_POSTGRES").as_deref() == Ok("required");
    let admin = tokio::time::timeout(
        Duration::from_secs(5),
        sqlx::PgConnection::connect(&pg_admin_url()),
    )
    .await;
    let mut admin = match admin {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return skip(required, &e.to_string()),
        Err(_) => return skip(required, "connect timed out"),
    };
    let name = format!("hibiki_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let url = pg_url_for(&name);
    // From here on the guard drops the database whatever happens.
    let store = match Store::connect(&url, 4).await {
        Ok(s) => s,
        Err(e) => {
            let _cleanup = PgDatabase {
                name: name.clone(),
                store: Store::connect("sqlite::memory:", 1).await.unwrap(),
            };
            panic!("cannot connect to the fresh database {name}: {e}");
        }
    };
    let db = PgDatabase { name, store };
    assert_eq!(db.store.backend(), "postgres");
    db.store.migrate().await.unwrap();
    Some(db)
}

fn skip(required: bool, reason: &str) -> Option<PgDatabase> {
    if required {
        panic!("PostgreSQL is required (HIBIKI_TEST_POSTGRES=required) but: {reason}");
    }
    println!("SKIPPED postgres: {reason}");
    None
}

pub async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let (store, _dir) = sqlite_store().await;
    case(store.clone()).await;
    store.close().await;
}

pub async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = pg_database().await else {
        return;
    };
    case(db.store.clone()).await;
    db.store.close().await;
}

/// One `#[tokio::test]` per backend for each contract case.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    $crate::store_harness::on_sqlite(super::$case).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    $crate::store_harness::on_postgres(super::$case).await;
                }
            )*
        }
    };
}
