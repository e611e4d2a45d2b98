//! Media: everything that touches audio, sans-IO where it can be.
//!
//! The building blocks land first, each tested on its own; the RTP
//! sessions that use them (one per SIP leg, from `media.port_range`) and
//! the call actor's bridge come next.
//!
//! - [`g711`]: µ-law and A-law (ITU-T G.711) to and from 16-bit PCM, and
//!   µ-law ↔ A-law transcoding.
//! - [`dtmf`]: RFC 4733 telephone-events (each digit reported once) and
//!   in-band tone detection (Goertzel, ITU-T Q.24 tolerances).
//! - [`rtp`]: RTP header parsing and writing without allocation, and the
//!   outgoing stream state that keeps SSRC, sequence and timestamp
//!   continuous across source switches (prompt → bridge).
//! - [`leg`]: one RTP leg of a call (socket, latch, streams, DTMF), driven
//!   by the call actor.
//! - [`plane`]: worker threads that relay and record parked bridges in
//!   batches, one wake-up per millisecond for all their calls.
//! - [`relay`]: one leg's packet rewritten for the other leg of a bridge
//!   (payload type, µ-law ↔ A-law, stream continuity).
//! - [`ports`]: the RTP port pool (even ports of `media.port_min..=max`).
//! - [`prompt`]: WAV prompts of any common rate and channel count converted
//!   to 8 kHz mono at load, cached, and paced out at 20 ms with no drift.
//! - [`recording`]: the call recorder: both directions on a 20 ms
//!   timeline, silence where no packet came, stereo WAV whose header stays
//!   valid as it grows, pause markers, and repair after a crash.

pub mod dtmf;
pub mod g711;
pub mod kernel;
pub mod leg;
pub mod plane;
pub mod ports;
pub mod prompt;
pub mod recording;
pub mod relay;
pub mod rtp;
