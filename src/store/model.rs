//! The rows the store keeps, as Rust types: [`CallRecord`] (a CDR) with
//! its [`Direction`] and [`Outcome`]; [`RecordingRecord`] (one WAV file of
//! a call) with its [`RecordingStatus`] and [`Pause`] markers; and the
//! mapping between them and the plain columns both databases share (text
//! for enums, epoch-millisecond `i64` for times, `i32` for the SIP status
//! code, JSON text for the pause list and the IVR path). A call's ACD
//! columns (customer, queue, agent and their times) are plain nullable
//! columns (`migrations/*/0005_agents_queues.sql`). Customers and
//! callback requests are in `customers.rs` and `callbacks.rs`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use super::StoreError;

/// Which way a call went, seen from Hibiki. Stored as `"inbound"` /
/// `"outbound"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    /// Parses the stored text; `None` for anything else.
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a call ended. Stored lowercase (`"no_answer"` for [`Outcome::NoAnswer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Answered,
    Busy,
    Cancelled,
    NoAnswer,
    Rejected,
    Failed,
}

impl Outcome {
    /// Every outcome, in catalog order (for metrics labels and tests).
    pub const ALL: [Outcome; 6] = [
        Outcome::Answered,
        Outcome::Busy,
        Outcome::Cancelled,
        Outcome::NoAnswer,
        Outcome::Rejected,
        Outcome::Failed,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Busy => "busy",
            Outcome::Cancelled => "cancelled",
            Outcome::NoAnswer => "no_answer",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
        }
    }

    /// Parses the stored text; `None` for anything else.
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One call detail record. The call actor fills it in: once when the call
/// starts ([`super::RecordEvent::Started`]) and again, complete, when it
/// ends ([`super::RecordEvent::Ended`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallRecord {
    /// Our call id (a uuid v4 string).
    pub id: String,
    /// Which Hibiki node handled the call.
    pub node_id: String,
    /// The SIP Call-ID of the inbound (or first) leg.
    pub sip_call_id: String,
    pub direction: Direction,
    /// The trunk the call came in on or went out through, if any.
    pub trunk: Option<String>,
    /// The caller's user part (or the full URI when it has no user part).
    pub from_number: String,
    /// The dialled number (the request-URI user part).
    pub to_number: String,
    pub started_at_ms: i64,
    pub answered_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub outcome: Option<Outcome>,
    pub final_sip_code: Option<u16>,
    /// A stable catalog code: `normal`, `cancelled`, `not_found`,
    /// `forbidden`, `timeout`, `shutdown`, `server_restart`…
    pub hangup_cause: Option<String>,
    /// The IVR path of the call: a JSON array of entries (what the flow
    /// did, in order), written by [`super::RecordEvent::Ended`]; `None`
    /// when the call ran no flow. Stored as JSON text.
    pub ivr_path: Option<serde_json::Value>,
    /// The customer the caller was found to be (by caller number), if any.
    pub customer_id: Option<String>,
    /// The ACD queue the call waited in, if it was queued.
    pub queue: Option<String>,
    /// When the call entered that queue.
    pub queued_at_ms: Option<i64>,
    /// The username of the agent who took the call, if one did.
    pub agent: Option<String>,
    /// When the agent's leg was connected to the caller.
    pub connected_at_ms: Option<i64>,
    /// The trunk of the last leg Hibiki placed through a trunk for this
    /// call (the trunk route, an IVR transfer, an agent's transfer or
    /// consult to a number), if any.
    pub out_trunk: Option<String>,
    /// That leg's SIP Call-ID: what a carrier asks for in a dispute.
    pub out_sip_call_id: Option<String>,
}

/// Milliseconds since the Unix epoch, the store's one time unit.
/// A clock before 1970 reads as 0 rather than failing.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The `calls` row as both databases return it; converted to a
/// [`CallRecord`] with every enum and code checked.
#[derive(sqlx::FromRow)]
pub(crate) struct CallRow {
    id: String,
    node_id: String,
    sip_call_id: String,
    direction: String,
    trunk: Option<String>,
    from_number: String,
    to_number: String,
    started_at_ms: i64,
    answered_at_ms: Option<i64>,
    ended_at_ms: Option<i64>,
    outcome: Option<String>,
    final_sip_code: Option<i32>,
    hangup_cause: Option<String>,
    ivr_path: Option<String>,
    customer_id: Option<String>,
    queue: Option<String>,
    queued_at_ms: Option<i64>,
    agent: Option<String>,
    connected_at_ms: Option<i64>,
    out_trunk: Option<String>,
    out_sip_call_id: Option<String>,
}

impl TryFrom<CallRow> for CallRecord {
    type Error = StoreError;

    fn try_from(row: CallRow) -> Result<CallRecord, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            table: "calls",
            id: row.id.clone(),
            reason,
        };
        let direction = Direction::parse(&row.direction)
            .ok_or_else(|| corrupt(format!("unknown direction {:?}", row.direction)))?;
        let outcome = match row.outcome.as_deref() {
            None => None,
            Some(s) => {
                Some(Outcome::parse(s).ok_or_else(|| corrupt(format!("unknown outcome {s:?}")))?)
            }
        };
        let final_sip_code = match row.final_sip_code {
            None => None,
            Some(c) => {
                Some(u16::try_from(c).map_err(|_| corrupt(format!("SIP code {c} out of range")))?)
            }
        };
        let ivr_path = match row.ivr_path.as_deref() {
            None => None,
            Some(s) => Some(
                serde_json::from_str(s)
                    .map_err(|e| corrupt(format!("ivr_path is not JSON: {e}")))?,
            ),
        };
        Ok(CallRecord {
            id: row.id,
            node_id: row.node_id,
            sip_call_id: row.sip_call_id,
            direction,
            trunk: row.trunk,
            from_number: row.from_number,
            to_number: row.to_number,
            started_at_ms: row.started_at_ms,
            answered_at_ms: row.answered_at_ms,
            ended_at_ms: row.ended_at_ms,
            outcome,
            final_sip_code,
            hangup_cause: row.hangup_cause,
            ivr_path,
            customer_id: row.customer_id,
            queue: row.queue,
            queued_at_ms: row.queued_at_ms,
            agent: row.agent,
            connected_at_ms: row.connected_at_ms,
            out_trunk: row.out_trunk,
            out_sip_call_id: row.out_sip_call_id,
        })
    }
}

/// Converts fetched rows, failing on the first corrupt one.
pub(crate) fn records(rows: Vec<CallRow>) -> Result<Vec<CallRecord>, StoreError> {
    rows.into_iter().map(CallRecord::try_from).collect()
}

/// Where a recording stands. Stored lowercase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    /// The file is being written (or was, when the node crashed: the
    /// start-up repair looks for these with [`super::Store::open_recordings`]).
    Recording,
    /// The recorder closed the file normally; `sha256` is set.
    Closed,
    /// Left open by a crash, then repaired at start-up: the header was
    /// rewritten and the file is playable up to about the last second.
    Repaired,
    /// Left open by a crash and could not be repaired (the file is missing
    /// or unreadable); the row is closed so it is not retried forever.
    Failed,
}

impl RecordingStatus {
    /// Every status, in catalog order.
    pub const ALL: [RecordingStatus; 4] = [
        RecordingStatus::Recording,
        RecordingStatus::Closed,
        RecordingStatus::Repaired,
        RecordingStatus::Failed,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingStatus::Recording => "recording",
            RecordingStatus::Closed => "closed",
            RecordingStatus::Repaired => "repaired",
            RecordingStatus::Failed => "failed",
        }
    }

    /// Parses the stored text; `None` for anything else.
    pub fn parse(s: &str) -> Option<RecordingStatus> {
        RecordingStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for RecordingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stretch of a recording paused for payment-card data: silence in the
/// file, this marker in the row. Milliseconds from the start of the
/// recording (positions in the file's timeline, not wall-clock times).
/// Stored as JSON: `{"start_ms":…,"end_ms":…}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Pause {
    pub start_ms: u64,
    pub end_ms: u64,
}

/// One recording of a call: a stereo WAV file (caller left, the other side
/// right). The call actor writes it twice: when recording starts
/// ([`super::RecordEvent::RecordingStarted`], status
/// [`RecordingStatus::Recording`]) and, complete, when the file is closed
/// ([`super::RecordEvent::RecordingClosed`]). The start-up repair closes
/// rows a crash left open with [`super::Store::recording_closed`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordingRecord {
    /// Our recording id (a uuid v4 string).
    pub id: String,
    /// The [`CallRecord::id`] of the call recorded.
    pub call_id: String,
    /// Which Hibiki node writes (wrote) the file.
    pub node_id: String,
    /// The file, relative to the recordings root
    /// (`YYYY/MM/DD/<call-id>.wav`).
    pub path: String,
    pub started_at_ms: i64,
    /// `None` while the file is open.
    pub ended_at_ms: Option<i64>,
    /// Audio length in the file, pauses included (they are silence).
    pub duration_ms: u64,
    /// File size, header included.
    pub bytes: u64,
    pub channels: u16,
    pub sample_rate: u32,
    /// Lower-case hex SHA-256 of the whole file; `None` until closed (and
    /// after a repair whose caller did not hash the file).
    pub sha256: Option<String>,
    pub status: RecordingStatus,
    /// Pause markers, in order.
    pub pauses: Vec<Pause>,
}

impl RecordingRecord {
    /// The row for a recording that starts now: status `recording`, stereo
    /// 8 kHz, nothing written yet, no pauses.
    pub fn started(
        id: impl Into<String>,
        call_id: impl Into<String>,
        node_id: impl Into<String>,
        path: impl Into<String>,
        started_at_ms: i64,
    ) -> RecordingRecord {
        RecordingRecord {
            id: id.into(),
            call_id: call_id.into(),
            node_id: node_id.into(),
            path: path.into(),
            started_at_ms,
            ended_at_ms: None,
            duration_ms: 0,
            bytes: 0,
            channels: 2,
            sample_rate: 8000,
            sha256: None,
            status: RecordingStatus::Recording,
            pauses: Vec::new(),
        }
    }
}

/// The pause list as stored: a JSON array.
pub(crate) fn pauses_json(pauses: &[Pause]) -> String {
    // Serialising a sequence of structs of integers cannot fail; the
    // fallback only keeps this free of panics.
    serde_json::to_string(pauses).unwrap_or_else(|_| String::from("[]"))
}

/// The IVR path as stored: JSON text, or NULL.
pub(crate) fn ivr_path_json(path: Option<&serde_json::Value>) -> Option<String> {
    // Serialising a `Value` cannot fail (its map keys are strings).
    path.map(|v| serde_json::to_string(v).unwrap_or_else(|_| String::from("null")))
}

/// An unsigned count as stored (`BIGINT`): counts beyond `i64::MAX`
/// (9 EB, or 292 million years of audio) cannot occur and saturate.
pub(crate) fn stored_u64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The `recordings` row as both databases return it; converted to a
/// [`RecordingRecord`] with every status, count and pause list checked.
#[derive(sqlx::FromRow)]
pub(crate) struct RecordingRow {
    id: String,
    call_id: String,
    node_id: String,
    path: String,
    started_at_ms: i64,
    ended_at_ms: Option<i64>,
    duration_ms: i64,
    bytes: i64,
    channels: i32,
    sample_rate: i64,
    sha256: Option<String>,
    status: String,
    pauses: String,
}

impl TryFrom<RecordingRow> for RecordingRecord {
    type Error = StoreError;

    fn try_from(row: RecordingRow) -> Result<RecordingRecord, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            table: "recordings",
            id: row.id.clone(),
            reason,
        };
        let status = RecordingStatus::parse(&row.status)
            .ok_or_else(|| corrupt(format!("unknown status {:?}", row.status)))?;
        let duration_ms = u64::try_from(row.duration_ms)
            .map_err(|_| corrupt(format!("negative duration {}", row.duration_ms)))?;
        let bytes = u64::try_from(row.bytes)
            .map_err(|_| corrupt(format!("negative size {}", row.bytes)))?;
        let channels = u16::try_from(row.channels)
            .map_err(|_| corrupt(format!("channel count {} out of range", row.channels)))?;
        let sample_rate = u32::try_from(row.sample_rate)
            .map_err(|_| corrupt(format!("sample rate {} out of range", row.sample_rate)))?;
        let pauses: Vec<Pause> = serde_json::from_str(&row.pauses)
            .map_err(|e| corrupt(format!("pauses are not a pause list: {e}")))?;
        Ok(RecordingRecord {
            id: row.id,
            call_id: row.call_id,
            node_id: row.node_id,
            path: row.path,
            started_at_ms: row.started_at_ms,
            ended_at_ms: row.ended_at_ms,
            duration_ms,
            bytes,
            channels,
            sample_rate,
            sha256: row.sha256,
            status,
            pauses,
        })
    }
}

/// Converts fetched recording rows, failing on the first corrupt one.
pub(crate) fn recordings(rows: Vec<RecordingRow>) -> Result<Vec<RecordingRecord>, StoreError> {
    rows.into_iter().map(RecordingRecord::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_texts_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::NoAnswer.as_str(), "no_answer");
        assert_eq!(Outcome::parse("NoAnswer"), None);
        for d in [Direction::Inbound, Direction::Outbound] {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
        }
        assert_eq!(Direction::parse("sideways"), None);
    }

    #[test]
    fn now_ms_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
    }

    #[test]
    fn recording_status_texts_round_trip() {
        for st in RecordingStatus::ALL {
            assert_eq!(RecordingStatus::parse(st.as_str()), Some(st));
        }
        assert_eq!(RecordingStatus::parse("Closed"), None);
        assert_eq!(RecordingStatus::parse(""), None);
    }

    #[test]
    fn pauses_are_stored_as_the_documented_json() {
        let pauses = [
            Pause {
                start_ms: 1_000,
                end_ms: 2_500,
            },
            Pause {
                start_ms: 60_000,
                end_ms: 61_020,
            },
        ];
        let json = pauses_json(&pauses);
        assert_eq!(
            json,
            r#"[{"start_ms":1000,"end_ms":2500},{"start_ms":60000,"end_ms":61020}]"#
        );
        assert_eq!(pauses_json(&[]), "[]");
        let back: Vec<Pause> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, pauses);
    }

    fn row(status: &str, pauses: &str) -> RecordingRow {
        RecordingRow {
            id: "r".into(),
            call_id: "c".into(),
            node_id: "n".into(),
            path: "2024/01/02/c.wav".into(),
            started_at_ms: 5,
            ended_at_ms: Some(9),
            duration_ms: 4,
            bytes: 44,
            channels: 2,
            sample_rate: 8000,
            sha256: None,
            status: status.into(),
            pauses: pauses.into(),
        }
    }

    #[test]
    fn recording_rows_are_checked() {
        let ok = RecordingRecord::try_from(row("repaired", "[]")).unwrap();
        assert_eq!(ok.status, RecordingStatus::Repaired);
        assert_eq!((ok.channels, ok.sample_rate, ok.bytes), (2, 8000, 44));

        for (bad, why) in [
            (row("open", "[]"), "status"),
            (row("closed", "{}"), "pauses"),
            (row("closed", r#"[{"start_ms":-1,"end_ms":2}]"#), "pauses"),
            (
                RecordingRow {
                    bytes: -1,
                    ..row("closed", "[]")
                },
                "size",
            ),
            (
                RecordingRow {
                    channels: 70_000,
                    ..row("closed", "[]")
                },
                "channel",
            ),
        ] {
            match RecordingRecord::try_from(bad) {
                Err(StoreError::Corrupt { table, id, reason }) => {
                    assert_eq!((table, id.as_str()), ("recordings", "r"));
                    assert!(reason.contains(why), "{reason}");
                }
                other => panic!("expected Corrupt ({why}), got {other:?}"),
            }
        }
    }

    #[test]
    fn huge_counts_saturate_instead_of_wrapping() {
        assert_eq!(stored_u64(0), 0);
        assert_eq!(stored_u64(u64::MAX), i64::MAX);
        assert_eq!(stored_u64(i64::MAX as u64), i64::MAX);
    }
}
