//! What a call's flow asks of the customer data: the customer behind the
//! caller's number (an IVR `lookup` with `source = "customer"`), and the
//! callback request a voicemail message files. Reads go to the store (a
//! call never writes to it directly); writes go through the record
//! writer like every other call event.

use std::path::Path;

use crate::ivr::run::LookupResult;
use crate::media::recording::RecordingSummary;
use crate::store::CallRecord;

/// The customer directory as calls see it. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Directory {}

impl Directory {
    /// The customer whose number is `caller`.
    pub async fn find(&self, _caller: &str) -> LookupResult {
        LookupResult::Failed("TODO(lead): the customer store".into())
    }

    /// Files the callback request of a voicemail message.
    pub fn callback_requested(
        &self,
        _call: &CallRecord,
        _root: &Path,
        _started_ms: i64,
        _message: &RecordingSummary,
    ) {
    }
}
