//! What a call's flow asks of the customer data: the customer behind the
//! caller's number (an IVR `lookup` with `source = "customer"`), and the
//! callback request a voicemail message files. Reads go to the store;
//! writes go through the record writer like every other call event (a
//! call never writes to the database itself).

use std::path::Path;

use tracing::warn;

use crate::ivr::run::LookupResult;
use crate::media::recording::RecordingSummary;
use crate::store::{CallRecord, CallbackRequest, RecordEvent, RecordSink, Store, Voicemail};

/// How many past interactions a screen pop shows.
pub const POP_HISTORY: u32 = 5;

/// The customer directory as calls see it. Cheap to clone.
#[derive(Clone)]
pub struct Directory {
    store: Store,
    records: RecordSink,
    /// For numbers written without a country code (`[customers]
    /// default_region`).
    default_region: String,
    node_id: String,
}

impl Directory {
    pub fn new(
        store: Store,
        records: RecordSink,
        default_region: String,
        node_id: String,
    ) -> Directory {
        Directory {
            store,
            records,
            default_region,
            node_id,
        }
    }

    /// `caller` in E.164 when it can be read as a phone number.
    pub fn normalise(&self, caller: &str) -> Option<String> {
        crate::customer::normalise_phone(caller, &self.default_region)
    }

    /// The customer whose number is `caller`: its `id`, `name`,
    /// `name_prompt` and `email` as a JSON object.
    pub async fn find(&self, caller: &str) -> LookupResult {
        crate::customer::lookup(&self.store, caller, &self.default_region).await
    }

    /// The customer's last interactions for the screen pop (newest
    /// first, at most [`POP_HISTORY`]); empty when the database is slow
    /// or failing: the pop must not wait on it.
    pub async fn history(&self, customer_id: &str) -> serde_json::Value {
        let read = self.store.customer_interactions(customer_id, POP_HISTORY);
        match tokio::time::timeout(std::time::Duration::from_millis(500), read).await {
            Ok(Ok(list)) => serde_json::to_value(list).unwrap_or_default(),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "reading the customer's history failed");
                serde_json::Value::Array(Vec::new())
            }
            Err(_) => {
                tracing::warn!("reading the customer's history timed out");
                serde_json::Value::Array(Vec::new())
            }
        }
    }

    /// Files the callback request of a voicemail `message` left in `flow`
    /// (its file under `root`, the recordings folder), for the customer
    /// `customer_id` when the flow knew it.
    pub fn callback_requested(
        &self,
        call: &CallRecord,
        flow: &str,
        customer_id: Option<String>,
        root: &Path,
        message: &RecordingSummary,
    ) {
        let caller = self
            .normalise(&call.from_number)
            .unwrap_or_else(|| call.from_number.clone());
        let mut request = CallbackRequest::open(
            uuid::Uuid::new_v4().to_string(),
            call.id.clone(),
            self.node_id.clone(),
            caller,
            call.to_number.clone(),
            flow,
            crate::store::now_ms(),
        );
        request.customer_id = customer_id;
        request.voicemail = Some(Voicemail {
            path: message
                .path
                .strip_prefix(root)
                .unwrap_or(&message.path)
                .to_string_lossy()
                .into_owned(),
            duration_ms: message.duration_ms,
            bytes: message.bytes,
            sha256: Some(message.sha256.clone()),
        });
        if !self.records.send(RecordEvent::CallbackRequested(request)) {
            warn!("the callback request could not be queued for the database");
        }
    }
}
