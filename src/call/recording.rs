//! A call's recording as the call actor sees it: the WAV being written
//! (through [`Recorder`]) and its row in the `recordings` table, opened at
//! answer and closed (with duration, size and sha256) when the call ends.
//! Every media route uses these.

use tracing::{info, warn};

use super::actor::{now_ms, Actor};
use super::media::MediaContext;
use super::{Control, ControlCommand, ControlError, RecordingState};
use crate::media::recording::{recording_path, Recorder, RecordingFile, Timeline};
use crate::store::{Pause, RecordEvent, RecordingRecord, RecordingStatus};

/// A recording in progress and its row.
pub(super) struct Recording {
    pub(super) recorder: Recorder,
    pub(super) row: RecordingRecord,
}

impl Recording {
    /// The recorder (it goes to the media plane with the legs) and the
    /// row (the call task keeps it).
    pub(super) fn split(
        recording: Option<Recording>,
    ) -> (Option<Recorder>, Option<Box<RecordingRecord>>) {
        match recording {
            Some(Recording { recorder, row }) => (Some(recorder), Some(Box::new(row))),
            None => (None, None),
        }
    }

    /// The recording again from what [`Recording::split`] gave, once the
    /// recorder is back (one that failed on the plane leaves none).
    pub(super) fn join(
        recorder: Option<Recorder>,
        row: Option<Box<RecordingRecord>>,
    ) -> Option<Recording> {
        match (recorder, row) {
            (Some(recorder), Some(row)) => Some(Recording {
                recorder,
                row: *row,
            }),
            _ => None,
        }
    }
}

impl Actor {
    /// Opens the call's WAV and announces its row; `None` when recording is
    /// off or the file cannot be created (the call goes on, logged).
    pub(super) fn start_recording(&self, media: &MediaContext, now_us: u64) -> Option<Recording> {
        let root = media.recording_dir.as_ref()?;
        let id = &self.call.record.id;
        let started = now_ms();
        let path = recording_path(root, id, started);
        let file = match RecordingFile::create(&path, id) {
            Ok(f) => f,
            Err(e) => {
                warn!(error = %e, "cannot create the recording; the call goes on unrecorded");
                return None;
            }
        };
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let row = RecordingRecord::started(
            uuid::Uuid::new_v4().to_string(),
            id.clone(),
            media.node_id.clone(),
            relative,
            started,
        );
        // The call's own row first, so a reader finds the call.
        self.ctx
            .records
            .send(RecordEvent::RecordingStarted(row.clone()));
        info!(path = %path.display(), "recording");
        Some(Recording {
            recorder: Recorder::new(Timeline::new(now_us), file),
            row,
        })
    }

    /// Closes the WAV (off the async threads: it is read back for its
    /// sha256) and completes its row.
    pub(super) async fn finish_recording(&self, recording: Recording, end_us: u64) {
        let Recording { recorder, row } = recording;
        let summary = tokio::task::spawn_blocking(move || recorder.finish(end_us)).await;
        let closed = match summary {
            Ok(Ok(s)) => RecordingRecord {
                ended_at_ms: Some(now_ms()),
                duration_ms: s.duration_ms,
                bytes: s.bytes,
                channels: s.channels,
                sample_rate: s.sample_rate,
                sha256: Some(s.sha256),
                status: RecordingStatus::Closed,
                pauses: s
                    .pauses
                    .iter()
                    .map(|p| Pause {
                        start_ms: p.start_ms,
                        end_ms: p.end_ms,
                    })
                    .collect(),
                ..row
            },
            Ok(Err(e)) => {
                warn!(error = %e, "closing the recording failed");
                RecordingRecord {
                    ended_at_ms: Some(now_ms()),
                    status: RecordingStatus::Failed,
                    ..row
                }
            }
            Err(e) => {
                warn!(error = %e, "recording task failed");
                RecordingRecord {
                    ended_at_ms: Some(now_ms()),
                    status: RecordingStatus::Failed,
                    ..row
                }
            }
        };
        self.ctx.records.send(RecordEvent::RecordingClosed(closed));
    }
}

/// Carries out an API command on the call's recording (if any) at media
/// time `now_us`, and answers it. `agent_on_call` is the agent the call
/// is connected to: an agent's command for another's call is refused.
pub(super) fn control(
    recording: Option<&mut Recording>,
    control: Control,
    now_us: u64,
    agent_on_call: Option<&str>,
) {
    let Control {
        command,
        agent,
        reply,
    } = control;
    if let Some(asking) = agent.as_deref() {
        if agent_on_call != Some(asking) {
            warn!(agent = asking, on_call = ?agent_on_call, ?command, "an agent's command for a call not theirs refused");
            let _ = reply.send(Err(ControlError::NotYourCall));
            return;
        }
    }
    let result = match recording {
        None => Err(ControlError::NotRecording),
        Some(r) => match command {
            ControlCommand::PauseRecording => {
                if r.recorder.pause(now_us) {
                    info!("recording paused");
                }
                Ok(RecordingState::Paused)
            }
            ControlCommand::ResumeRecording => {
                if let Some(p) = r.recorder.resume(now_us) {
                    info!(
                        start_ms = p.start_ms,
                        end_ms = p.end_ms,
                        "recording resumed"
                    );
                }
                Ok(RecordingState::Recording)
            }
        },
    };
    let _ = reply.send(result);
}

/// Sends the frames of `player` due by `now` to the caller on `leg` (as
/// RTP source `source`) and records them on the other side, as what the
/// caller heard: prompts, music, announcements.
pub(in crate::call) async fn play_due(
    player: &mut crate::media::prompt::Player,
    leg: &mut crate::media::leg::RtpLeg,
    source: u32,
    mut recording: Option<&mut Recording>,
    now: std::time::Instant,
) {
    let now_us = leg.media_us(now);
    while let Some(event) = player.poll(now_us) {
        if let crate::media::prompt::PlayerEvent::Frame(frame) = event {
            leg.send_pcm(source, &frame.samples, now).await;
            if let Some(r) = recording.as_deref_mut() {
                r.recorder.push(
                    crate::media::recording::Side::Other,
                    frame.deadline_us,
                    &frame.samples,
                );
            }
        }
    }
}
