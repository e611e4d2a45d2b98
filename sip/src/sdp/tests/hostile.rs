//! Hostile input never panics: every prefix of every sample, random
//! bytes, random SDP-looking lines and mutated samples. Whatever parses
//! must also write back to a fixed point and survive negotiation.

use std::net::IpAddr;

use super::samples::{self, crlf};
use crate::sdp::{accept_answer, answer, hold, offer, LocalMedia, SessionDescription};

/// A seeded xorshift64*: the same inputs on every run, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Parses `bytes`; if that works, checks that writing is a fixed point
/// (write ∘ parse ∘ write = write) and runs every negotiation on it.
/// Returns whether it parsed.
fn exercise(bytes: &[u8]) -> bool {
    let Ok(sdp) = SessionDescription::parse(bytes) else {
        return false;
    };
    let written = sdp.to_string();
    let again = SessionDescription::parse(written.as_bytes())
        .unwrap_or_else(|e| panic!("our own output refused: {e}\n{written:?}"));
    assert_eq!(
        again.to_string(),
        written,
        "input {:?}",
        String::from_utf8_lossy(bytes)
    );
    let local = LocalMedia::new(IpAddr::from([192, 0, 2, 1]), 4000, 1);
    if let Ok(a) = answer(&sdp, &local) {
        let back = SessionDescription::parse(a.sdp.to_string().as_bytes()).unwrap();
        assert_eq!(back, a.sdp);
    }
    let ours = offer(&local);
    let _ = accept_answer(&ours, &sdp);
    let _ = accept_answer(&sdp, &ours);
    let _ = sdp.is_hold();
    let _ = hold(&sdp).to_string();
    true
}

#[test]
fn every_prefix_of_every_sample() {
    for (name, lf) in samples::ALL {
        let wire = crlf(lf);
        let bytes = wire.as_bytes();
        let mut parsed = 0;
        for end in 0..=bytes.len() {
            if exercise(bytes.get(..end).unwrap()) {
                parsed += 1;
            }
        }
        // Cut mid-line, most prefixes still parse (the tail line is just
        // shorter): the test is not only exercising the error path.
        assert!(
            parsed > bytes.len() / 4,
            "{name}: {parsed} of {}",
            bytes.len()
        );
        assert!(exercise(bytes), "{name}");
    }
}

#[test]
fn random_bytes() {
    let mut rng = Rng(0x5eed_0000_0000_0001);
    for _ in 0..3000 {
        let len = rng.below(300);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        exercise(&bytes);
        // The same after a valid head, so the line parsers are reached.
        let mut with_head = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n".to_vec();
        with_head.extend_from_slice(&bytes);
        exercise(&with_head);
    }
}

#[test]
fn random_sdp_looking_lines() {
    const KINDS: &[&str] = &[
        "v", "o", "s", "i", "c", "b", "t", "r", "z", "k", "a", "m", "x", "", "m", "a", "c",
    ];
    const TOKENS: &[&str] = &[
        "0",
        "1",
        "8",
        "101",
        "127",
        "128",
        "65535",
        "65536",
        "-1",
        "IN",
        "IP4",
        "IP6",
        "0.0.0.0",
        "192.0.2.1",
        "::",
        "::1",
        "233.252.0.1/127/2",
        "audio",
        "video",
        "image",
        "RTP/AVP",
        "RTP/AVPF",
        "RTP/SAVP",
        "udptl",
        "t38",
        "rtpmap:0",
        "rtpmap:101",
        "PCMU/8000",
        "PCMA/8000",
        "telephone-event/8000",
        "opus/48000/2",
        "fmtp:101",
        "0-16",
        "ptime:20",
        "ptime:",
        "sendonly",
        "recvonly",
        "inactive",
        "sendrecv",
        "rtcp:9",
        "rtcp-mux",
        ":",
        "/",
        "=",
        " ",
        "\t",
        "\r",
        "é",
        "\u{0}",
        "4000/2",
        "x",
    ];
    let mut rng = Rng(0xfeed_beef_0000_0002);
    let mut parsed = 0;
    for _ in 0..4000 {
        let mut text = String::from("v=0\r\n");
        if rng.below(8) != 0 {
            text.push_str("o=- 1 1 IN IP4 192.0.2.1\r\n");
        }
        for _ in 0..rng.below(14) {
            text.push_str(KINDS[rng.below(KINDS.len())]);
            text.push('=');
            for i in 0..rng.below(6) {
                if i > 0 && rng.below(3) != 0 {
                    text.push(' ');
                }
                text.push_str(TOKENS[rng.below(TOKENS.len())]);
            }
            text.push_str(if rng.below(4) == 0 { "\n" } else { "\r\n" });
        }
        if exercise(text.as_bytes()) {
            parsed += 1;
        }
    }
    assert!(
        parsed > 100,
        "only {parsed} parsed: the generator misses the parser"
    );
}

#[test]
fn mutated_samples() {
    let mut rng = Rng(0xabad_1dea_0000_0003);
    for (_, lf) in samples::ALL {
        let wire = crlf(lf).into_bytes();
        for _ in 0..300 {
            let mut bytes = wire.clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(bytes.len());
                match rng.below(3) {
                    0 => bytes[at] = rng.next() as u8,
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, b" :/=\r\n0"[rng.below(7)]),
                }
            }
            exercise(&bytes);
        }
    }
}
