//! What every media route shares, built once at start: the RTP port
//! pool, the addresses RTP binds to and announces, the media timeout, the
//! recordings directory, and the prompts (loaded and converted at start;
//! today the demo's set, the IVR's prompt sets next).

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
    pub node_id: String,
    prompts: HashMap<&'static str, Arc<Prompt>>,
}

impl MediaContext {
    /// Loads the demo's prompts from `<prompts_dir>/en/` when `prompts_dir`
    /// is given (refusing to start when one is missing or unreadable); a
    /// server without a media route needs none.
    pub fn new(
        ports: PortPool,
        bind_ip: std::net::IpAddr,
        announce_ip: std::net::IpAddr,
        timeout: Option<Duration>,
        recording_dir: Option<PathBuf>,
        node_id: String,
        prompts_dir: Option<&Path>,
    ) -> Result<MediaContext, PromptError> {
        let cache = PromptCache::new();
        let mut prompts = HashMap::new();
        if let Some(dir) = prompts_dir {
            for name in PROMPTS {
                let path = dir.join("en").join(format!("{name}.wav"));
                prompts.insert(*name, cache.get(&path)?);
            }
        }
        Ok(MediaContext {
            ports,
            bind_ip,
            announce_ip,
            timeout,
            recording_dir,
            node_id,
            prompts,
        })
    }

    pub(super) fn prompt(&self, name: &str) -> Vec<Arc<Prompt>> {
        self.prompts.get(name).cloned().into_iter().collect()
    }
}
