//! What every media route shares, built once at start: the RTP port
//! pool, the addresses RTP binds to and announces, the media timeout, the
//! recordings and voicemail directories, and the prompts (converted to
//! 8 kHz once and cached: the demo's set at start, a flow's prompts by
//! language and name, preloaded when the flows load).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::media::ports::PortPool;
use crate::media::prompt::{Prompt, PromptCache, PromptError};

/// The prompts the demo plays, by name (`welcome`, `goodbye`, `digit-5`…).
const PROMPTS: &[&str] = &[
    "welcome",
    "goodbye",
    "digit-0",
    "digit-1",
    "digit-2",
    "digit-3",
    "digit-4",
    "digit-5",
    "digit-6",
    "digit-7",
    "digit-8",
    "digit-9",
    "digit-star",
    "digit-pound",
    "digit-A",
    "digit-B",
    "digit-C",
    "digit-D",
];

/// What media routes share: built once at start.
pub struct MediaContext {
    pub ports: PortPool,
    /// The IP our RTP sockets bind to and the one our SDP announces.
    pub bind_ip: std::net::IpAddr,
    pub announce_ip: std::net::IpAddr,
    pub timeout: Option<Duration>,
    pub recording_dir: Option<PathBuf>,
    /// Where voicemail messages go (kept even when calls are not
    /// recorded: a message is what the caller asked us to keep).
    pub voicemail_dir: PathBuf,
    pub node_id: String,
    prompts: HashMap<&'static str, Arc<Prompt>>,
    /// `<dir>/<language>/<name>.wav`, for flows.
    prompts_dir: PathBuf,
    cache: PromptCache,
    /// Where bridges park their media (`None`: they keep it).
    pub plane: Option<crate::media::plane::MediaPlane>,
}

/// Whether `name` can be a prompt's file name: letters, digits, `-`,
/// `_` (a name from a variable must not walk out of the prompt folder).
pub fn is_prompt_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl MediaContext {
    /// Prompts come from `prompts_dir`; with `demo`, the demo's set is
    /// loaded from `<prompts_dir>/en/` now (refusing to start when one is
    /// missing or unreadable).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ports: PortPool,
        bind_ip: std::net::IpAddr,
        announce_ip: std::net::IpAddr,
        timeout: Option<Duration>,
        recording_dir: Option<PathBuf>,
        voicemail_dir: PathBuf,
        node_id: String,
        prompts_dir: &Path,
        demo: bool,
    ) -> Result<MediaContext, PromptError> {
        let cache = PromptCache::new();
        let mut prompts = HashMap::new();
        if demo {
            for name in PROMPTS {
                let path = prompts_dir.join("en").join(format!("{name}.wav"));
                prompts.insert(*name, cache.get(&path)?);
            }
        }
        Ok(MediaContext {
            ports,
            bind_ip,
            announce_ip,
            timeout,
            recording_dir,
            voicemail_dir,
            node_id,
            prompts,
            prompts_dir: prompts_dir.to_owned(),
            cache,
            plane: None,
        })
    }

    /// Bridges park their media on `plane`.
    #[must_use]
    pub fn with_plane(mut self, plane: Option<crate::media::plane::MediaPlane>) -> MediaContext {
        self.plane = plane;
        self
    }

    /// A flow's prompt, loaded and converted on first use (blocking file
    /// IO: [`MediaContext::preload`] the flows' prompts at start so calls
    /// find them cached).
    pub fn flow_prompt(&self, language: &str, name: &str) -> Result<Arc<Prompt>, PromptError> {
        if !is_prompt_name(language) || !is_prompt_name(name) {
            return Err(PromptError::BadName(format!("{language}/{name}")));
        }
        let path = self.prompts_dir.join(language).join(format!("{name}.wav"));
        self.cache.get(&path)
    }

    /// After a reload: forgets the flows' cached prompts (a file may have
    /// changed) and loads those of `flows`. The demo's set stays.
    pub fn refresh(&self, flows: &crate::ivr::registry::FlowSet) {
        self.cache.clear();
        let failed = self.preload(flows.flows().map(AsRef::as_ref));
        if failed > 0 {
            tracing::warn!(
                failed,
                "some prompts of the reloaded flows could not be loaded"
            );
        }
    }

    /// Loads every prompt `flows` name and every say-item prompt of
    /// their languages into the cache; returns how many failed (logged).
    pub fn preload<'a>(&self, flows: impl IntoIterator<Item = &'a crate::ivr::Flow>) -> usize {
        let mut failed = 0;
        for flow in flows {
            for (language, name) in flow.prompt_files() {
                if let Err(e) = self.flow_prompt(&language, &name) {
                    tracing::warn!(flow = %flow.name, error = %e, "prompt not loaded");
                    failed += 1;
                }
            }
        }
        failed
    }

    pub(super) fn prompt(&self, name: &str) -> Vec<Arc<Prompt>> {
        self.prompts.get(name).cloned().into_iter().collect()
    }
}
