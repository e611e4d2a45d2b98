//! What the browser's offer says about audio: which G.711 law to use.
//!
//! A scan of the offer's `m=audio` sections for `a=rtpmap:<pt> PCMU/8000`
//! and `PCMA/8000` (names case-insensitive, as RFC 4855 says); the crate
//! parses the full SDP itself when the offer is applied.

use crate::media::g711::Law;

use super::SoftphoneError;

/// The law the connection will use: PCMU if any audio section offers it,
/// else PCMA.
pub(super) fn choose_law(offer: &str) -> Result<Law, SoftphoneError> {
    let mut in_audio = false;
    let mut saw_audio = false;
    let (mut ulaw, mut alaw) = (false, false);
    for line in offer.lines().map(str::trim) {
        if let Some(media) = line.strip_prefix("m=") {
            in_audio = media.starts_with("audio ");
            saw_audio |= in_audio;
            continue;
        }
        if !in_audio {
            continue;
        }
        let Some(rtpmap) = line.strip_prefix("a=rtpmap:") else {
            continue;
        };
        let Some((_, encoding)) = rtpmap.split_once(' ') else {
            continue;
        };
        let mut parts = encoding.split('/');
        let name = parts.next().unwrap_or_default();
        if parts.next() != Some("8000") {
            continue;
        }
        ulaw |= name.eq_ignore_ascii_case("PCMU");
        alaw |= name.eq_ignore_ascii_case("PCMA");
    }
    match (saw_audio, ulaw, alaw) {
        (false, _, _) => Err(SoftphoneError::NoAudio),
        (true, true, _) => Ok(Law::Ulaw),
        (true, false, true) => Ok(Law::Alaw),
        (true, false, false) => Err(SoftphoneError::NoG711),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_AUDIO: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n\
        a=rtpmap:111 opus/48000/2\r\na=rtpmap:9 G722/8000\r\n\
        a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n";

    #[test]
    fn pcmu_is_preferred_when_offered() {
        assert!(matches!(choose_law(CHROME_AUDIO), Ok(Law::Ulaw)));
    }

    #[test]
    fn pcma_alone_is_accepted() {
        let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 8\r\na=rtpmap:8 pcma/8000\r\n";
        assert!(matches!(choose_law(offer), Ok(Law::Alaw)));
    }

    #[test]
    fn codecs_of_other_sections_do_not_count() {
        let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n";
        assert!(matches!(choose_law(offer), Err(SoftphoneError::NoG711)));
        assert!(matches!(
            choose_law("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"),
            Err(SoftphoneError::NoAudio)
        ));
        assert!(matches!(
            choose_law("garbage"),
            Err(SoftphoneError::NoAudio)
        ));
    }
}
