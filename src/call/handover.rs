//! After the flow: the caller talks to whoever the flow handed them to (a
//! transfer's far end, an agent's SIP phone or browser), and an agent may
//! hand them on.
//!
//! An agent's blind transfer ends their part (the ACD is told the call
//! ended for them, so they go to wrap-up with the call still theirs to
//! dispose) and the caller goes on:
//! - to a queue: queued again with the same screen pop, hearing its music;
//! - to an agent: queued in the current queue for that agent only (the
//!   ACD offers it to them with the pop when they are available);
//! - to a number: dialled through `agents.transfer_trunk` like a flow's
//!   transfer, the caller hearing silence while it rings.
//!
//! A transfer that fails (the number refuses, the queue has nobody) puts
//! the caller back in the queue they came from, so no caller is dropped by
//! a transfer; only if that queue also has nobody does the call end.
//! The call's one recording runs on through all of it.

use std::time::Instant;

use tracing::{info, warn};

use super::actor::{Actor, End};
use super::bridge::browser::Talked;
use super::bridge::transfer::{Bridged, TransferTo, Transferred};
use super::bridge::{Caller, CallerMedia};
use super::outcome::HangupCause;
use super::queue::{CallerSide, QueueStep, Waited};
use crate::acd::service::{Command, TransferTarget};
use crate::store::Outcome;

/// What came of a transfer.
enum HandedOver {
    To(Box<Bridged>),
    Ended(End),
}

impl Actor {
    /// Runs the call with whoever it was handed to, through any transfers
    /// the agents make, to its end.
    pub(super) async fn talk_transferred(
        &mut self,
        bridged: Bridged,
        mut caller: CallerMedia,
        t0: Instant,
    ) -> End {
        let mut bridged = bridged;
        loop {
            let talked = match bridged {
                Bridged::Sip { out, far } => {
                    let (talked, back) = self.talk(*out, *far, caller).await;
                    match (back, talked) {
                        (Some(back), talked) => {
                            caller = back;
                            talked
                        }
                        // The legs are lost (and the recording with them):
                        // the call is over.
                        (None, Talked::Ended(end)) => return end,
                        (None, _) => {
                            return End {
                                outcome: Outcome::Answered,
                                code: Some(200),
                                cause: HangupCause::NoMediaPorts,
                            }
                        }
                    }
                }
                Bridged::Browser { agent, lent } => {
                    self.talk_browser(&agent, lent, &mut caller).await
                }
            };
            let end = match talked {
                Talked::Ended(end) => end,
                Talked::Handover(next) => {
                    // The consulting agent's part ends (wrap-up); the
                    // caller goes on with the number they consulted.
                    if let Some(queued) = self.queued.take() {
                        if queued.agent.is_some() {
                            let entry = self.call.record.id.clone();
                            let _ = self.ctx.acd.send(Command::Ended { entry }).await;
                        }
                    }
                    bridged = *next;
                    continue;
                }
                Talked::Transfer(target) => match self.hand_over(target, &mut caller, t0).await {
                    HandedOver::To(next) => {
                        bridged = *next;
                        continue;
                    }
                    HandedOver::Ended(end) => end,
                },
            };
            if let Some(r) = caller.recording.take() {
                self.finish_recording(r, caller.rtp.media_us(Instant::now()))
                    .await;
            }
            return end;
        }
    }

    /// Carries out an agent's blind transfer; see the module doc.
    async fn hand_over(
        &mut self,
        target: TransferTarget,
        caller: &mut CallerMedia,
        t0: Instant,
    ) -> HandedOver {
        // The transferring agent's part ends: wrap-up.
        if let Some(queued) = self.queued.take() {
            if queued.agent.is_some() {
                let entry = self.call.record.id.clone();
                let _ = self.ctx.acd.send(Command::Ended { entry }).await;
            }
        }
        let Some(previous) = self.queue_step.clone() else {
            warn!("a transfer without a queue step: ending the call");
            self.hang_up().await;
            return HandedOver::Ended(answered(HangupCause::Normal));
        };
        let back = QueueStep {
            agent: None,
            ..previous.clone()
        };
        let step = match target {
            // The new queue's own skills only: what the flow's step asked
            // was for the queue it named.
            TransferTarget::Queue(queue) => QueueStep {
                queue,
                agent: None,
                skills: Vec::new(),
                ..previous
            },
            TransferTarget::Agent(agent) => QueueStep {
                queue: self
                    .call
                    .record
                    .queue
                    .clone()
                    .unwrap_or(previous.queue.clone()),
                agent: Some(agent),
                ..previous
            },
            TransferTarget::Number(number) => {
                match self.transfer_to_number(&number, caller, t0).await {
                    Ok(handed) => return handed,
                    Err(reason) => {
                        info!(%number, %reason, "the transfer to a number failed: back to the queue");
                        back.clone()
                    }
                }
            }
        };
        let fallback = (step.queue != back.queue || step.agent.is_some()).then_some(back);
        match self.queue_again(step, caller, t0).await {
            Ok(handed) => handed,
            Err(reason) => match fallback {
                Some(back) => {
                    info!(%reason, queue = %back.queue, "the transfer found nobody: back to the queue");
                    match self.queue_again(back, caller, t0).await {
                        Ok(handed) => handed,
                        Err(reason) => self.nobody(&reason).await,
                    }
                }
                None => self.nobody(&reason).await,
            },
        }
    }

    /// Queues the caller for `step`; `Err` with the reason when the call
    /// left the queue without an agent.
    async fn queue_again(
        &mut self,
        step: QueueStep,
        caller: &mut CallerMedia,
        t0: Instant,
    ) -> Result<HandedOver, String> {
        info!(queue = %step.queue, agent = ?step.agent, "queued again by a transfer");
        let side = CallerSide {
            leg: &mut caller.rtp,
            local: &caller.local,
            last_sdp: &mut caller.last_sdp,
            recording: &mut caller.recording,
            acked: &mut caller.acked,
            t0,
        };
        match self.wait_in_queue(step, side).await {
            Waited::Connected { bridged, .. } => Ok(HandedOver::To(bridged)),
            Waited::Left(reason) => Err(reason),
            Waited::Callback { .. } => {
                Ok(HandedOver::Ended(answered(HangupCause::CallbackRequested)))
            }
            Waited::CallerLeft => Ok(HandedOver::Ended(answered(HangupCause::Normal))),
            Waited::Shutdown => Ok(HandedOver::Ended(answered(HangupCause::Shutdown))),
            Waited::EngineGone => Ok(HandedOver::Ended(self.engine_gone())),
        }
    }

    /// Dials `number` through the transfer trunk; `Err` with the reason
    /// when it did not answer.
    async fn transfer_to_number(
        &mut self,
        number: &str,
        caller: &mut CallerMedia,
        t0: Instant,
    ) -> Result<HandedOver, String> {
        let Some(trunk) = self.ctx.transfer_trunk.clone() else {
            return Err("no `agents.transfer_trunk` is set".into());
        };
        let ringing = Caller::Answered {
            local: &caller.local,
            last_sdp: &mut caller.last_sdp,
            recording: &mut caller.recording,
            acked: &mut caller.acked,
        };
        let to = TransferTo {
            trunk: &trunk,
            to: number,
            caller_id: None,
        };
        match self.transfer(to, &mut caller.rtp, ringing, t0).await {
            Transferred::Answered(bridged) => Ok(HandedOver::To(bridged)),
            Transferred::Failed(reason) => Err(reason),
            Transferred::CallerLeft => Ok(HandedOver::Ended(answered(HangupCause::Normal))),
            Transferred::Shutdown => {
                self.hang_up().await;
                Ok(HandedOver::Ended(answered(HangupCause::Shutdown)))
            }
            Transferred::EngineGone => Ok(HandedOver::Ended(self.engine_gone())),
        }
    }

    /// Nobody can take the caller: the call ends.
    async fn nobody(&mut self, reason: &str) -> HandedOver {
        warn!(%reason, "a transferred caller found nobody: hanging up");
        self.hang_up().await;
        HandedOver::Ended(answered(HangupCause::Normal))
    }
}

fn answered(cause: HangupCause) -> End {
    End {
        outcome: Outcome::Answered,
        code: Some(200),
        cause,
    }
}
