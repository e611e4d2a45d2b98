//! Sans-IO pacing of prompts into 20 ms frames.
//!
//! Frame `i` is due at `start + i × 20 ms`, computed from the index every
//! time, never by adding 20 ms to the previous deadline after a sleep, so
//! late wake-ups do not accumulate into drift over an hour. A sequence of
//! prompts plays gaplessly (a frame may hold the end of one prompt and the
//! start of the next); only the very last frame is padded with silence.
//!
//! Driving rule: call [`Player::poll`] with the media time until it
//! returns `None`, then sleep until [`Player::next_deadline`]. After a
//! stall, the frames that fell due come out one per call, each with its
//! own deadline, so the sender keeps the RTP timestamps on the grid.

use std::sync::Arc;

use super::{Prompt, FRAME_SAMPLES, FRAME_US};
use crate::media::g711::Law;

/// One 20 ms frame of 8 kHz mono PCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Index from the start of the sequence (0, 1, 2...).
    pub index: u64,
    /// When it is due: `start + index × 20 ms`, media microseconds.
    pub deadline_us: u64,
    /// The samples (silence-padded at the very end).
    pub samples: [i16; FRAME_SAMPLES],
}

impl Frame {
    /// The frame encoded in G.711 `law` into `dst` (160 bytes wanted);
    /// returns the bytes written. No allocation.
    pub fn encode(&self, law: Law, dst: &mut [u8]) -> usize {
        law.encode(&self.samples, dst)
    }
}

/// Why a player ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Every frame was played.
    Completed,
    /// [`Player::stop`] was called (barge-in).
    Stopped,
}

/// What [`Player::poll`] reports.
// A frame is 320 bytes on the stack; boxing it would allocate every 20 ms.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerEvent {
    /// The next frame, due now or earlier.
    Frame(Frame),
    /// The player ended (reported once).
    Finished(Finish),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Playing,
    /// Ended; `reported` once the event was handed out.
    Ended {
        how: Finish,
        reported: bool,
    },
}

/// Plays a sequence of prompts from a start time.
#[derive(Debug, Clone)]
pub struct Player {
    prompts: Vec<Arc<Prompt>>,
    start_us: u64,
    /// Index of the next frame.
    index: u64,
    /// Position of the next sample: prompt and offset within it.
    prompt: usize,
    offset: usize,
    total_frames: u64,
    state: State,
}

impl Player {
    /// A player of `prompts`, in order, whose first frame is due at
    /// `start_us`.
    pub fn new(prompts: Vec<Arc<Prompt>>, start_us: u64) -> Player {
        let samples: u64 = prompts.iter().map(|p| p.len() as u64).sum();
        Player {
            prompts,
            start_us,
            index: 0,
            prompt: 0,
            offset: 0,
            total_frames: samples.div_ceil(FRAME_SAMPLES as u64),
            state: State::Playing,
        }
    }

    /// Frames the whole sequence takes.
    pub fn total_frames(&self) -> u64 {
        self.total_frames
    }

    /// Frames handed out so far.
    pub fn frames_played(&self) -> u64 {
        self.index
    }

    /// When the player wants to be polled next: the next frame's deadline,
    /// or now-ish (`Some` deadline already passed) when an end is still to
    /// be reported; `None` once that is done.
    pub fn next_deadline(&self) -> Option<u64> {
        match self.state {
            State::Playing => Some(self.deadline(self.index)),
            State::Ended {
                reported: false, ..
            } => Some(self.deadline(self.index)),
            State::Ended { reported: true, .. } => None,
        }
    }

    /// The next frame if it is due at `now_us`, the end once, or `None`.
    pub fn poll(&mut self, now_us: u64) -> Option<PlayerEvent> {
        match self.state {
            State::Ended { how, reported } => {
                if reported {
                    return None;
                }
                self.state = State::Ended {
                    how,
                    reported: true,
                };
                return Some(PlayerEvent::Finished(how));
            }
            State::Playing => {}
        }
        let deadline = self.deadline(self.index);
        if now_us < deadline {
            return None;
        }
        if self.index >= self.total_frames {
            self.state = State::Ended {
                how: Finish::Completed,
                reported: true,
            };
            return Some(PlayerEvent::Finished(Finish::Completed));
        }
        let mut samples = [0i16; FRAME_SAMPLES];
        let mut filled = 0;
        while filled < FRAME_SAMPLES {
            let Some(prompt) = self.prompts.get(self.prompt) else {
                break;
            };
            let source = prompt.pcm().get(self.offset..).unwrap_or(&[]);
            let n = source.len().min(FRAME_SAMPLES - filled);
            if let (Some(to), Some(from)) = (samples.get_mut(filled..filled + n), source.get(..n)) {
                to.copy_from_slice(from);
            }
            filled += n;
            self.offset += n;
            if self.offset >= prompt.len() {
                self.prompt += 1;
                self.offset = 0;
            }
        }
        let frame = Frame {
            index: self.index,
            deadline_us: deadline,
            samples,
        };
        self.index += 1;
        Some(PlayerEvent::Frame(frame))
    }

    /// Stops at once (barge-in): no more frames; the next poll reports
    /// [`Finish::Stopped`]. No effect once ended.
    pub fn stop(&mut self) {
        if self.state == State::Playing {
            self.state = State::Ended {
                how: Finish::Stopped,
                reported: false,
            };
        }
    }

    /// How the player ended, once it has.
    pub fn finished(&self) -> Option<Finish> {
        match self.state {
            State::Playing => None,
            State::Ended { how, .. } => Some(how),
        }
    }

    fn deadline(&self, index: u64) -> u64 {
        self.start_us.saturating_add(index.saturating_mul(FRAME_US))
    }
}
