//! The PostgreSQL store: production, and the one several Hibiki nodes
//! share. A plain connection pool; migrations take PostgreSQL's advisory
//! lock (sqlx does), so nodes starting together apply them once.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor, Postgres};

use super::agents::{bind_agent_state, INSERT_AGENT_STATE};
use super::model::{recordings, records, CallRow, RecordingRow};
use super::sql::{self, bind_callback, bind_record, bind_recording};
use super::{
    AgentStateChange, CallRecord, CallbackRequest, RecordEvent, RecordingRecord, StoreError,
};

/// How long `connect` and every query wait for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of connections to one PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database named by a `postgres://` or
    /// `postgresql://` URL; fails now when it does not answer.
    pub async fn connect(url: &str, max_connections: u32) -> Result<PgStore, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(PgStore { pool })
    }

    /// The pool, for the queries of sibling modules (`users.rs`).
    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn call_started(&self, r: &CallRecord) -> Result<(), StoreError> {
        started(&self.pool, r).await
    }

    pub async fn call_ended(&self, r: &CallRecord) -> Result<(), StoreError> {
        ended(&self.pool, r).await
    }

    /// Writes every event in one transaction, in order.
    pub async fn write_batch(&self, events: &[RecordEvent]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for ev in events {
            match ev {
                RecordEvent::Started(r) => started(&mut *tx, r).await?,
                RecordEvent::Ended(r) => ended(&mut *tx, r).await?,
                RecordEvent::RecordingStarted(r) => recording_started(&mut *tx, r).await?,
                RecordEvent::RecordingClosed(r) => recording_closed(&mut *tx, r).await?,
                RecordEvent::CallbackRequested(r) => callback_requested(&mut *tx, r).await?,
                RecordEvent::AgentState(r) => agent_state(&mut *tx, r).await?,
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn close_orphaned_calls(
        &self,
        node_id: &str,
        now_ms: i64,
        cause: &str,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(sql::CLOSE_ORPHANED)
            .bind(sql::text(node_id))
            .bind(now_ms)
            .bind(sql::text(cause))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn call(&self, id: &str) -> Result<Option<CallRecord>, StoreError> {
        let row: Option<CallRow> = sqlx::query_as(&sql::select_by_id())
            .bind(sql::text(id))
            .fetch_optional(&self.pool)
            .await?;
        row.map(CallRecord::try_from).transpose()
    }

    pub async fn calls_by_sip_call_id(
        &self,
        sip_call_id: &str,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let rows: Vec<CallRow> = sqlx::query_as(&sql::select_by_sip_call_id())
            .bind(sql::text(sip_call_id))
            .fetch_all(&self.pool)
            .await?;
        records(rows)
    }

    pub async fn recent_calls(&self, limit: u32) -> Result<Vec<CallRecord>, StoreError> {
        let rows: Vec<CallRow> = sqlx::query_as(&sql::select_recent())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        records(rows)
    }

    pub async fn recording_started(&self, r: &RecordingRecord) -> Result<(), StoreError> {
        recording_started(&self.pool, r).await
    }

    pub async fn recording_closed(&self, r: &RecordingRecord) -> Result<(), StoreError> {
        recording_closed(&self.pool, r).await
    }

    pub async fn recording(&self, id: &str) -> Result<Option<RecordingRecord>, StoreError> {
        let row: Option<RecordingRow> = sqlx::query_as(&sql::select_recording_by_id())
            .bind(sql::text(id))
            .fetch_optional(&self.pool)
            .await?;
        row.map(RecordingRecord::try_from).transpose()
    }

    pub async fn recordings_for_call(
        &self,
        call_id: &str,
    ) -> Result<Vec<RecordingRecord>, StoreError> {
        let rows: Vec<RecordingRow> = sqlx::query_as(&sql::select_recordings_by_call())
            .bind(sql::text(call_id))
            .fetch_all(&self.pool)
            .await?;
        recordings(rows)
    }

    pub async fn open_recordings(&self, node_id: &str) -> Result<Vec<RecordingRecord>, StoreError> {
        let rows: Vec<RecordingRow> = sqlx::query_as(&sql::select_open_recordings())
            .bind(sql::text(node_id))
            .fetch_all(&self.pool)
            .await?;
        recordings(rows)
    }

    pub async fn count_calls(&self) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(sql::COUNT).fetch_one(&self.pool).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn started<'e, E>(ex: E, r: &CallRecord) -> Result<(), StoreError>
where
    E: Executor<'e, Database = Postgres>,
{
    bind_record!(sqlx::query(sql::INSERT_STARTED), r)
        .execute(ex)
        .await?;
    Ok(())
}

async fn ended<'e, E>(ex: E, r: &CallRecord) -> Result<(), StoreError>
where
    E: Executor<'e, Database = Postgres>,
{
    bind_record!(sqlx::query(sql::UPSERT_ENDED), r)
        .execute(ex)
        .await?;
    Ok(())
}

async fn recording_started<'e, E>(ex: E, r: &RecordingRecord) -> Result<(), StoreError>
where
    E: Executor<'e, Database = Postgres>,
{
    bind_recording!(sqlx::query(sql::INSERT_RECORDING_STARTED), r)
        .execute(ex)
        .await?;
    Ok(())
}

async fn recording_closed<'e, E>(ex: E, r: &RecordingRecord) -> Result<(), StoreError>
where
    E: Executor<'e, Database = Postgres>,
{
    bind_recording!(sqlx::query(sql::UPSERT_RECORDING_CLOSED), r)
        .execute(ex)
        .await?;
    Ok(())
}

async fn callback_requested<'e, E>(ex: E, r: &CallbackRequest) -> Result<(), StoreError>
where
    E: Executor<'e, Database = Postgres>,
{
    bind_callback!(sqlx::query(sql::INSERT_CALLBACK), r)
        .execute(ex)
        .await?;
    Ok(())
}

async fn agent_state<'e, E>(ex: E, r: &AgentStateChange) -> Result<(), StoreError>
where
    E: Executor<'e, Database = Postgres>,
{
    bind_agent_state!(sqlx::query(INSERT_AGENT_STATE), r)
        .execute(ex)
        .await?;
    Ok(())
}
