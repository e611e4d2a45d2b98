//! IVR mode (`run --ivr`), sans-IO: the caller's scripted DTMF keys, sent
//! as RFC 4733 events in place of audio frames, and the timing of the
//! prompts the server plays back.
//!
//! ## Keys
//! A script is `SECONDS:KEYS` entries (`13.6:1,20.5:1234`), times from the
//! call's first RTP packet (right after the 2xx), optionally repeated every
//! `--dtmf-every` seconds. Each key takes [`KEY_SLOTS`] packet times of the
//! caller's 20 ms grid: [`KEY_PACKETS`] event packets (the first with the
//! marker, durations 160, 320, … samples, all with the timestamp of the
//! key's first slot) then [`END_PACKETS`] end packets (E bit, the final
//! duration, same timestamp), as RFC 4733 §2.5.1 describes; the keys of
//! one entry start [`KEY_SPACING`] packet times apart. Every packet takes
//! the leg's next sequence number, and audio resumes on the grid.
//!
//! ## Prompt gaps
//! The server sends nothing between prompts and while it listens, so a
//! gap is only measured inside a talk spurt: a packet continues the spurt
//! of its stream when it has no marker and its timestamp advanced by at
//! most 160 samples per sequence number (one source's frames are numbered
//! by samples; a pause restarts the timestamp from the clock, and a new
//! prompt list sets the marker). The gap is the time since the previous
//! packet of the stream arrived.

use std::time::Duration;

use crate::pacer::PTIME_US;
use crate::rtp::{event_code, Event, FRAME_SAMPLES};

/// Event packets of one key before its end packets (100 ms of tone).
pub const KEY_PACKETS: u64 = 5;
/// End packets of one key (RFC 4733 §2.5.1.4: the final packet three times).
pub const END_PACKETS: u64 = 3;
/// Packet times one key occupies.
pub const KEY_SLOTS: u64 = KEY_PACKETS + END_PACKETS;
/// Packet times from one key's start to the next key of the same entry
/// (200 ms: 160 ms of key, 40 ms of audio).
pub const KEY_SPACING: u64 = 10;
/// A gap longer than this is a defect (two packet times).
pub const GAP_LIMIT_US: u64 = 40_000;

/// One key of the expanded schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyStart {
    /// The leg's packet index (0 = its first packet) the key starts at.
    pub index: u64,
    pub code: u8,
}

/// The keys every call sends, as given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// (µs from the first packet, keys).
    entries: Vec<(u64, Vec<u8>)>,
    every_us: Option<u64>,
}

impl Script {
    /// Parses `SECONDS:KEYS[,SECONDS:KEYS…]` (keys `0-9 * # A-D`).
    pub fn parse(text: &str, every: Option<Duration>) -> Result<Script, String> {
        let mut entries = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (at, keys) = part
                .split_once(':')
                .ok_or_else(|| format!("{part:?}: expected SECONDS:KEYS"))?;
            let at: f64 = at
                .trim()
                .parse()
                .map_err(|_| format!("{part:?}: {at:?} is not a number of seconds"))?;
            if !(at.is_finite() && at >= 0.0) {
                return Err(format!("{part:?}: the time must be 0 or more"));
            }
            let codes = keys
                .trim()
                .chars()
                .map(|k| event_code(k).ok_or_else(|| format!("{part:?}: {k:?} is not a DTMF key")))
                .collect::<Result<Vec<u8>, String>>()?;
            if codes.is_empty() {
                return Err(format!("{part:?}: no keys"));
            }
            entries.push(((at * 1e6) as u64, codes));
        }
        entries.sort_by_key(|e| e.0);
        let every_us = every.map(|d| d.as_micros() as u64);
        if every_us == Some(0) {
            return Err("--dtmf-every must be more than 0".into());
        }
        Ok(Script { entries, every_us })
    }

    /// Every key due before packet `horizon`, in order. Keys that would
    /// overlap the previous one are an error.
    pub fn schedule(&self, horizon: u64) -> Result<Vec<KeyStart>, String> {
        let mut keys = Vec::new();
        let mut round = 0u64;
        loop {
            let offset_us = match self.every_us {
                Some(every) => round * every,
                None if round == 0 => 0,
                None => break,
            };
            let mut any = false;
            for (at_us, codes) in &self.entries {
                let first = (offset_us + at_us).div_ceil(PTIME_US);
                for (i, &code) in codes.iter().enumerate() {
                    let index = first + i as u64 * KEY_SPACING;
                    if index < horizon {
                        any = true;
                        keys.push(KeyStart { index, code });
                    }
                }
            }
            if !any {
                break;
            }
            round += 1;
        }
        keys.sort_by_key(|k| k.index);
        for pair in keys.windows(2) {
            if pair[1].index < pair[0].index + KEY_SLOTS {
                return Err(format!(
                    "keys at {:.2} s and {:.2} s overlap (a key takes {} ms)",
                    pair[0].index as f64 * 0.02,
                    pair[1].index as f64 * 0.02,
                    KEY_SLOTS * 20
                ));
            }
        }
        Ok(keys)
    }
}

/// What one leg sends instead of audio at a packet index, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSlot {
    /// The key's first packet index (its RTP timestamp).
    pub start: u64,
    pub event: Event,
    /// The key's first packet (marker bit).
    pub first: bool,
    /// The key's last end packet: the key is sent.
    pub last: bool,
}

/// A leg's place in the key schedule (indexes only grow).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyCursor(usize);

impl KeyCursor {
    /// The event packet due at `index`, if a key covers it.
    pub fn slot(&mut self, keys: &[KeyStart], index: u64) -> Option<EventSlot> {
        while keys
            .get(self.0)
            .is_some_and(|k| k.index + KEY_SLOTS <= index)
        {
            self.0 += 1;
        }
        let key = keys.get(self.0)?;
        let offset = index.checked_sub(key.index)?;
        let played = offset.min(KEY_PACKETS - 1) + 1;
        Some(EventSlot {
            start: key.index,
            event: Event {
                code: key.code,
                end: offset >= KEY_PACKETS,
                duration: (played * FRAME_SAMPLES as u64) as u16,
            },
            first: offset == 0,
            last: offset == KEY_SLOTS - 1,
        })
    }
}

/// Inter-arrival gaps inside talk spurts, all streams together: 0.1 ms
/// bins up to 2 s, then one bin for longer.
#[derive(Debug, Clone)]
pub struct GapHistogram {
    bins: Vec<u64>,
    pub count: u64,
    pub max_us: u64,
    pub over_limit: u64,
}

const BIN_US: u64 = 100;
const BINS: usize = 20_000;

impl Default for GapHistogram {
    fn default() -> Self {
        GapHistogram {
            bins: vec![0; BINS + 1],
            count: 0,
            max_us: 0,
            over_limit: 0,
        }
    }
}

impl GapHistogram {
    pub fn add(&mut self, gap_us: u64) {
        let bin = ((gap_us / BIN_US) as usize).min(BINS);
        self.bins[bin] += 1;
        self.count += 1;
        self.max_us = self.max_us.max(gap_us);
        if gap_us > GAP_LIMIT_US {
            self.over_limit += 1;
        }
    }

    /// The gap (µs, the top of its bin) that `p` % of gaps do not exceed.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((p / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &n) in self.bins.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(if i == BINS {
                    self.max_us
                } else {
                    ((i as u64 + 1) * BIN_US).min(self.max_us)
                });
            }
        }
        Some(self.max_us)
    }
}

/// The prompts of one received stream (one call).
#[derive(Debug, Clone, Copy, Default)]
pub struct PromptStream {
    last: Option<(u16, u32, u64)>, // seq, timestamp, arrival µs
    pub packets: u64,
    pub spurts: u64,
    pub gaps_over_limit: u64,
    /// When the first and the last gap over the limit ended (µs into the
    /// run), to tell the ramp, the steady window and the teardown apart.
    pub first_over_at_us: Option<u64>,
    pub last_over_at_us: Option<u64>,
}

impl PromptStream {
    /// Accounts one packet; gaps inside a spurt go to `hist`.
    pub fn on_packet(
        &mut self,
        marker: bool,
        seq: u16,
        timestamp: u32,
        now_us: u64,
        hist: &mut GapHistogram,
    ) {
        self.packets += 1;
        let continues = self.last.is_some_and(|(s, ts, _)| {
            let dseq = u32::from(seq.wrapping_sub(s));
            let dts = timestamp.wrapping_sub(ts);
            !marker && (1..=50).contains(&dseq) && dts > 0 && dts <= dseq * FRAME_SAMPLES as u32
        });
        match self.last {
            Some((_, _, at)) if continues => {
                let gap = now_us.saturating_sub(at);
                hist.add(gap);
                if gap > GAP_LIMIT_US {
                    self.gaps_over_limit += 1;
                    self.first_over_at_us.get_or_insert(now_us);
                    self.last_over_at_us = Some(now_us);
                }
            }
            _ => self.spurts += 1,
        }
        self.last = Some((seq, timestamp, now_us));
    }
}

/// The prompt figures of a run.
#[derive(Debug, Clone, Default)]
pub struct PromptTotals {
    pub streams: u64,
    pub packets: u64,
    pub spurts: u64,
    /// Streams (calls) with at least one gap over the limit.
    pub streams_with_gap: u64,
    /// When those streams' first and last such gaps ended (µs into the
    /// run; one entry when they are the same gap), sorted.
    pub over_limit_at_us: Vec<u64>,
    pub gaps: GapHistogram,
}

impl PromptTotals {
    pub fn new(streams: &[PromptStream], gaps: GapHistogram) -> PromptTotals {
        PromptTotals {
            streams: streams.len() as u64,
            packets: streams.iter().map(|s| s.packets).sum(),
            spurts: streams.iter().map(|s| s.spurts).sum(),
            streams_with_gap: streams.iter().filter(|s| s.gaps_over_limit > 0).count() as u64,
            over_limit_at_us: {
                let mut at: Vec<u64> = streams
                    .iter()
                    .flat_map(|s| {
                        let last = s.last_over_at_us.filter(|l| Some(*l) != s.first_over_at_us);
                        s.first_over_at_us.into_iter().chain(last)
                    })
                    .collect();
                at.sort_unstable();
                at
            },
            gaps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_parse_and_repeat() {
        let s = Script::parse("13.6:1, 20.5:12", Some(Duration::from_secs(18))).expect("ok");
        let keys = s.schedule(2000).expect("no overlap");
        let at: Vec<(u64, u8)> = keys.iter().map(|k| (k.index, k.code)).collect();
        assert_eq!(
            at,
            vec![
                (680, 1),
                (1025, 1),
                (1035, 2),
                (680 + 900, 1),
                (1025 + 900, 1),
                (1035 + 900, 2)
            ]
        );
        let once = Script::parse("1:#", None).expect("ok");
        assert_eq!(once.schedule(10_000).expect("ok").len(), 1);
        assert!(Script::parse("1:x", None).is_err());
        assert!(Script::parse("a:1", None).is_err());
        assert!(Script::parse("1", None).is_err());
        let tight = Script::parse("1:1,1.1:2", None).expect("parses");
        assert!(tight.schedule(1000).is_err());
    }

    #[test]
    fn a_key_is_five_event_packets_and_three_end_packets() {
        let keys = [
            KeyStart { index: 10, code: 5 },
            KeyStart {
                index: 20,
                code: 11,
            },
        ];
        let mut c = KeyCursor::default();
        assert_eq!(c.slot(&keys, 9), None);
        let slots: Vec<EventSlot> = (10..18).filter_map(|i| c.slot(&keys, i)).collect();
        assert_eq!(slots.len(), 8);
        assert!(slots.iter().all(|s| s.start == 10 && s.event.code == 5));
        let durations: Vec<u16> = slots.iter().map(|s| s.event.duration).collect();
        assert_eq!(durations, vec![160, 320, 480, 640, 800, 800, 800, 800]);
        let ends: Vec<bool> = slots.iter().map(|s| s.event.end).collect();
        assert_eq!(
            ends,
            vec![false, false, false, false, false, true, true, true]
        );
        assert!(slots[0].first && !slots[1].first);
        assert!(slots[7].last && !slots[6].last);
        assert_eq!(c.slot(&keys, 18), None);
        assert_eq!(c.slot(&keys, 20).map(|s| s.event.code), Some(11));
        assert_eq!(c.slot(&keys, 40), None);
    }

    #[test]
    fn gaps_are_measured_inside_spurts_only() {
        let mut h = GapHistogram::default();
        let mut s = PromptStream::default();
        // A spurt of 3 packets, 20 ms apart, one arriving 45 ms late.
        s.on_packet(true, 1, 1000, 0, &mut h);
        s.on_packet(false, 2, 1160, 20_000, &mut h);
        s.on_packet(false, 3, 1320, 65_000, &mut h);
        // 5 s of silence, then a new prompt (marker).
        s.on_packet(true, 4, 41_320, 5_065_000, &mut h);
        // A pause without marker: the timestamp jumped.
        s.on_packet(false, 5, 90_000, 6_000_000, &mut h);
        s.on_packet(false, 6, 90_160, 6_020_000, &mut h);
        assert_eq!((s.packets, s.spurts, s.gaps_over_limit), (6, 3, 1));
        assert_eq!((h.count, h.max_us, h.over_limit), (3, 45_000, 1));
        assert_eq!(h.percentile(50.0), Some(20_100)); // the top of its 0.1 ms bin
        assert_eq!(h.percentile(99.0), Some(45_000));
        let t = PromptTotals::new(&[s, PromptStream::default()], h);
        assert_eq!((t.streams, t.packets, t.streams_with_gap), (2, 6, 1));
    }
}
