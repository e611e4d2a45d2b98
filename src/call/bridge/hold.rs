//! Hold while bridged to an agent: the caller hears the queue's music
//! (started over when it ends) and the recording keeps it on the agent's
//! side, as what the caller heard. Shared by the SIP-phone and browser
//! bridges; the events that put a call on hold and the RTP source number
//! stay with them.

use std::sync::Arc;
use std::time::Instant;

use crate::call::actor::Actor;
use crate::call::recording::{play_due, Recording};
use crate::media::leg::RtpLeg;
use crate::media::prompt::player::Player;
use crate::media::prompt::Prompt;

/// The hold music of one bridged call; playing only while on hold.
pub(super) struct HoldMusic {
    music: Option<Arc<Prompt>>,
    player: Option<Player>,
}

impl HoldMusic {
    /// The music of the call's last queue (silence if it is missing).
    pub(super) fn for_call(actor: &Actor) -> HoldMusic {
        let (language, name) = actor.hold_music_names();
        HoldMusic {
            music: actor.ctx.media.flow_prompt(&language, &name).ok(),
            player: None,
        }
    }

    pub(super) fn is_on(&self) -> bool {
        self.player.is_some()
    }

    /// Puts the caller on hold, the music's first frame due at `now_us`
    /// on the caller's media clock; false if already on hold.
    pub(super) fn start(&mut self, now_us: u64) -> bool {
        if self.player.is_some() {
            return false;
        }
        self.player = Some(self.new_player(now_us));
        true
    }

    /// Takes the caller off hold; false if not on hold.
    pub(super) fn stop(&mut self) -> bool {
        self.player.take().is_some()
    }

    /// Sends the frames due by `now` to the caller (as RTP source
    /// `source`) and records them on the agent's side.
    pub(super) async fn play(
        &mut self,
        leg: &mut RtpLeg,
        source: u32,
        recording: Option<&mut Recording>,
        now: Instant,
    ) {
        let now_us = leg.media_us(now);
        let Some(player) = self.player.as_mut() else {
            return;
        };
        play_due(player, leg, source, recording, now).await;
        if player.finished().is_some() {
            let again = self.new_player(now_us);
            self.player = Some(again);
        }
    }

    fn new_player(&self, start_us: u64) -> Player {
        Player::new(self.music.iter().cloned().collect(), start_us)
    }
}
