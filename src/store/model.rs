//! The rows the store keeps, as Rust types: [`CallRecord`] (a CDR) with
//! its [`Direction`] and [`Outcome`], and the mapping between them and the
//! plain columns both databases share (text for enums, epoch-millisecond
//! `i64` for times, `i32` for the SIP status code).

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
}

impl TryFrom<CallRow> for CallRecord {
    type Error = StoreError;

    fn try_from(row: CallRow) -> Result<CallRecord, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
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
        })
    }
}

/// Converts fetched rows, failing on the first corrupt one.
pub(crate) fn records(rows: Vec<CallRow>) -> Result<Vec<CallRecord>, StoreError> {
    rows.into_iter().map(CallRecord::try_from).collect()
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
}
