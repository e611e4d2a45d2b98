//! DTMF: the digits callers press, however their network carries them.
//!
//! - [`rfc4733`]: telephone-event RTP payloads (RFC 4733): parsing and
//!   writing, a receiver that reports each digit once however many
//!   packets carry it, and a sender that turns a digit into its packet
//!   sequence.
//! - [`inband`]: tones in the audio itself (Goertzel filters with the
//!   ITU-T Q.24 tolerances), for trunks that send no events.
//!
//! SIP INFO (`application/dtmf-relay`) is parsed by the signalling layer;
//! it yields the same [`digit_from_event`] characters.
//!
//! Both parts are sans-IO: they take packets, samples and (for the
//! receiver's timeout) the media clock, and return digits.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod inband;
pub mod rfc4733;

pub use inband::InbandDetector;
pub use rfc4733::{DtmfEvent, Rfc4733Receiver, Rfc4733Sender, TelephoneEvent};

/// The digits of RFC 4733 events 0–15, in event order.
const DIGITS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

/// The RFC 4733 event code of hook flash (16); Hibiki ignores it.
pub const EVENT_FLASH: u8 = 16;

/// The DTMF digit of an RFC 4733 event code: 0–9, `*` (10), `#` (11),
/// `A`–`D` (12–15). `None` for flash (16) and every other event.
pub fn digit_from_event(event: u8) -> Option<char> {
    DIGITS.get(usize::from(event)).copied()
}

/// The RFC 4733 event code of a DTMF digit (`a`–`d` accepted too).
pub fn event_from_digit(digit: char) -> Option<u8> {
    let d = digit.to_ascii_uppercase();
    DIGITS
        .iter()
        .position(|c| *c == d)
        .and_then(|i| u8::try_from(i).ok())
}

/// Errors of the DTMF codecs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// A telephone-event payload shorter than its 4 bytes.
    #[error("telephone-event payload of {0} bytes, need 4")]
    ShortPayload(usize),
    /// An output buffer too small for a payload.
    #[error("buffer of {0} bytes too small for a telephone-event payload")]
    BufferTooSmall(usize),
    /// A character that is not a DTMF digit.
    #[error("{0:?} is not a DTMF digit (0-9, *, #, A-D)")]
    NotADigit(char),
    /// A tone duration or packet time the sender cannot express.
    #[error("invalid DTMF timing: {0}")]
    Timing(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_mapping_round_trips() {
        for ev in 0..16u8 {
            let d = digit_from_event(ev).unwrap();
            assert_eq!(event_from_digit(d), Some(ev));
        }
        assert_eq!(digit_from_event(10), Some('*'));
        assert_eq!(digit_from_event(11), Some('#'));
        assert_eq!(digit_from_event(15), Some('D'));
        assert_eq!(digit_from_event(EVENT_FLASH), None);
        assert_eq!(digit_from_event(255), None);
        assert_eq!(event_from_digit('b'), Some(13));
        assert_eq!(event_from_digit('x'), None);
    }
}
