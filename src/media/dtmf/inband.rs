//! (being written)

/// In-band DTMF detector (being written).
#[derive(Debug, Default)]
pub struct InbandDetector;
