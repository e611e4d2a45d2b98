//! ITU-T G.711: µ-law (PCMU, RTP payload type 0) and A-law (PCMA, payload
//! type 8) to and from 16-bit linear PCM, and µ-law ↔ A-law transcoding.
//!
//! Everything is a lookup in a table built at compile time by `const fn`
//! (no build script, no lazy initialisation, nothing allocated):
//!
//! | table | size | built from |
//! |---|---|---|
//! | µ-law → linear | 256 × i16 | the G.711 decoding rule (segment, step) |
//! | A-law → linear | 256 × i16 | the same |
//! | linear → µ-law | 16 384 × u8 | indexed by the sample's top 14 bits |
//! | linear → A-law | 8 192 × u8 | indexed by the sample's top 13 bits |
//! | µ-law → A-law, A-law → µ-law | 256 × u8 each | via linear (below) |
//!
//! Decoded values follow the usual 16-bit scaling of the reference
//! implementation (ITU-T G.191's `g711.c`): µ-law's 14-bit values shifted
//! left by 2 (so `0x80` ↔ 32124, `0xFF` ↔ 0), A-law's 13-bit values
//! shifted left by 3 (`0xD5` ↔ 8, `0x55` ↔ −8, `0xAA` ↔ 32256). Encoding
//! truncates towards the decision level below, as G.711 and `g711.c` do, so
//! `encode(decode(code)) == code` for every code except µ-law's negative
//! zero (`0x7F`, which decodes to 0 and encodes back as `0xFF`).
//!
//! ## Transcoding
//! `ulaw_to_alaw` and `alaw_to_ulaw` map each code to the code of the other
//! law whose reconstruction value is nearest (ties towards the smaller
//! magnitude; silence maps to silence). This is computed from the two
//! decoding tables rather than copied from G.711's Tables 3/4, so it is not
//! code-for-code those tables; it is what an ideal decode → encode bridge
//! would do, with a smaller worst error (132 in 16-bit units) than decode
//! then truncating encode (252). Neither direction is a bijection (the two
//! grids differ: 16 codes per law have no exact partner), but the round
//! trip is **stable**: after one µ → A → µ (or A → µ → A) pass, further
//! passes change nothing, so a call bridged back and forth does not drift.
//!
//! ## Why hand-written
//! It is a few tables. The one maintained crate that does both laws
//! (`audio-codec-algorithms`) encodes by computation rather than table,
//! has no transcoding, and needs a newer Rust than this workspace's
//! `rust-version`; the others are unmaintained or µ-law only.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

/// Which G.711 law a stream uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Law {
    /// µ-law, PCMU, static RTP payload type 0 (North America, Japan).
    Ulaw,
    /// A-law, PCMA, static RTP payload type 8 (Europe, most of the world).
    Alaw,
}

impl Law {
    /// The law of a static RTP payload type (0 → µ-law, 8 → A-law).
    pub fn from_payload_type(pt: u8) -> Option<Law> {
        match pt {
            0 => Some(Law::Ulaw),
            8 => Some(Law::Alaw),
            _ => None,
        }
    }

    /// The static RTP payload type of this law.
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Ulaw => 0,
            Law::Alaw => 8,
        }
    }

    /// The code of silence (linear 0) in this law: `0xFF` or `0xD5`.
    pub fn silence(self) -> u8 {
        match self {
            Law::Ulaw => 0xFF,
            Law::Alaw => 0xD5,
        }
    }

    /// Decodes one code.
    #[inline]
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Law::Ulaw => ulaw_to_linear(code),
            Law::Alaw => alaw_to_linear(code),
        }
    }

    /// Encodes one sample.
    #[inline]
    pub fn encode_sample(self, pcm: i16) -> u8 {
        match self {
            Law::Ulaw => linear_to_ulaw(pcm),
            Law::Alaw => linear_to_alaw(pcm),
        }
    }

    /// Decodes `src` into `dst` (see [`decode_ulaw`]); returns the count.
    pub fn decode(self, src: &[u8], dst: &mut [i16]) -> usize {
        match self {
            Law::Ulaw => decode_ulaw(src, dst),
            Law::Alaw => decode_alaw(src, dst),
        }
    }

    /// Encodes `src` into `dst` (see [`encode_ulaw`]); returns the count.
    pub fn encode(self, src: &[i16], dst: &mut [u8]) -> usize {
        match self {
            Law::Ulaw => encode_ulaw(src, dst),
            Law::Alaw => encode_alaw(src, dst),
        }
    }

    /// Converts a payload of this law to `to` in place (nothing to do when
    /// the laws match).
    #[allow(clippy::indexing_slicing)]
    pub fn transcode_in_place(self, to: Law, payload: &mut [u8]) {
        let table = match (self, to) {
            (Law::Ulaw, Law::Alaw) => &ULAW_TO_ALAW,
            (Law::Alaw, Law::Ulaw) => &ALAW_TO_ULAW,
            _ => return,
        };
        for code in payload {
            *code = table[usize::from(*code)];
        }
    }
}

// ---- the decoding rules (G.191 g711.c), as const fns ----
//
// The builders below run at compile time only: an index out of bounds
// there is a compile error, never a panic, hence their `allow`.

const fn ulaw_rule(code: u8) -> i16 {
    const BIAS: i32 = 0x84;
    let u = !code;
    let mut t = (((u & 0x0F) as i32) << 3) + BIAS;
    t <<= ((u & 0x70) >> 4) as i32;
    if u & 0x80 != 0 {
        (BIAS - t) as i16
    } else {
        (t - BIAS) as i16
    }
}

const fn alaw_rule(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

/// µ-law encoding of a 14-bit magnitude-and-sign value (`pcm >> 2`).
#[allow(clippy::indexing_slicing)]
const fn ulaw_encode_rule(pcm14: i32) -> u8 {
    const CLIP: i32 = 8159;
    const SEG_END: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
    let (mut v, mask) = if pcm14 < 0 {
        (-pcm14, 0x7Fu8)
    } else {
        (pcm14, 0xFFu8)
    };
    if v > CLIP {
        v = CLIP;
    }
    v += 0x84 >> 2;
    let mut seg = 0;
    while seg < 8 && v > SEG_END[seg] {
        seg += 1;
    }
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let u = ((seg as i32) << 4) | ((v >> (seg + 1)) & 0x0F);
    (u as u8) ^ mask
}

/// A-law encoding of a 13-bit value (`pcm >> 3`).
#[allow(clippy::indexing_slicing)]
const fn alaw_encode_rule(pcm13: i32) -> u8 {
    const SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let (v, mask) = if pcm13 >= 0 {
        (pcm13, 0xD5u8)
    } else {
        (-pcm13 - 1, 0x55u8)
    };
    let mut seg = 0;
    while seg < 8 && v > SEG_END[seg] {
        seg += 1;
    }
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mut a = (seg as i32) << 4;
    if seg < 2 {
        a |= (v >> 1) & 0x0F;
    } else {
        a |= (v >> seg) & 0x0F;
    }
    (a as u8) ^ mask
}

// ---- the tables ----

#[allow(clippy::indexing_slicing)]
const fn build_decode(ulaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if ulaw {
            ulaw_rule(i as u8)
        } else {
            alaw_rule(i as u8)
        };
        i += 1;
    }
    t
}

/// Indexed by `(pcm as u16) >> 2`: the 14-bit two's complement value.
#[allow(clippy::indexing_slicing)]
const fn build_ulaw_encode() -> [u8; 16384] {
    let mut t = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        let pcm14 = if i >= 8192 {
            i as i32 - 16384
        } else {
            i as i32
        };
        t[i] = ulaw_encode_rule(pcm14);
        i += 1;
    }
    t
}

/// Indexed by `(pcm as u16) >> 3`: the 13-bit two's complement value.
#[allow(clippy::indexing_slicing)]
const fn build_alaw_encode() -> [u8; 8192] {
    let mut t = [0u8; 8192];
    let mut i = 0;
    while i < 8192 {
        let pcm13 = if i >= 4096 { i as i32 - 8192 } else { i as i32 };
        t[i] = alaw_encode_rule(pcm13);
        i += 1;
    }
    t
}

/// For each code of one law, the code of the other law whose value is
/// nearest (ties towards the smaller magnitude, then the positive value;
/// µ-law's negative zero `0x7F` is never produced).
#[allow(clippy::indexing_slicing)]
const fn build_transcode(from: &[i16; 256], to: &[i16; 256], skip: i32) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let v = from[i] as i32;
        let mut best = 0usize;
        let mut best_d = i32::MAX;
        let mut c = 0;
        while c < 256 {
            if c as i32 != skip {
                let w = to[c] as i32;
                let d = (w - v).abs();
                let b = to[best] as i32;
                if d < best_d
                    || (d == best_d && (w.abs() < b.abs() || (w.abs() == b.abs() && w > b)))
                {
                    best = c;
                    best_d = d;
                }
            }
            c += 1;
        }
        t[i] = best as u8;
        i += 1;
    }
    t
}

static ULAW_DECODE: [i16; 256] = build_decode(true);
static ALAW_DECODE: [i16; 256] = build_decode(false);
static ULAW_ENCODE: [u8; 16384] = build_ulaw_encode();
static ALAW_ENCODE: [u8; 8192] = build_alaw_encode();
static ULAW_TO_ALAW: [u8; 256] = build_transcode(&ULAW_DECODE, &ALAW_DECODE, -1);
static ALAW_TO_ULAW: [u8; 256] = build_transcode(&ALAW_DECODE, &ULAW_DECODE, 0x7F);

// Every index below is a `u8` into a 256-entry table, or a `u16` shifted
// right so that it fits its table: the lookups cannot go out of bounds
// (and the compiler drops the check), hence their `allow`.

/// Decodes one µ-law code to 16-bit linear PCM.
#[inline]
#[allow(clippy::indexing_slicing)]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_DECODE[usize::from(code)]
}

/// Decodes one A-law code to 16-bit linear PCM.
#[inline]
#[allow(clippy::indexing_slicing)]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

/// Encodes one 16-bit linear sample as µ-law.
#[inline]
#[allow(clippy::indexing_slicing)]
pub fn linear_to_ulaw(pcm: i16) -> u8 {
    ULAW_ENCODE[usize::from(pcm as u16 >> 2)]
}

/// Encodes one 16-bit linear sample as A-law.
#[inline]
#[allow(clippy::indexing_slicing)]
pub fn linear_to_alaw(pcm: i16) -> u8 {
    ALAW_ENCODE[usize::from(pcm as u16 >> 3)]
}

/// Converts one µ-law code to A-law (via linear; see the module doc).
#[inline]
#[allow(clippy::indexing_slicing)]
pub fn ulaw_to_alaw(code: u8) -> u8 {
    ULAW_TO_ALAW[usize::from(code)]
}

/// Converts one A-law code to µ-law (via linear; see the module doc).
#[inline]
#[allow(clippy::indexing_slicing)]
pub fn alaw_to_ulaw(code: u8) -> u8 {
    ALAW_TO_ULAW[usize::from(code)]
}

/// Decodes µ-law `src` into `dst`, as many samples as the shorter of the
/// two holds; returns that count. Allocates nothing.
pub fn decode_ulaw(src: &[u8], dst: &mut [i16]) -> usize {
    let n = src.len().min(dst.len());
    for (d, s) in dst.iter_mut().zip(src) {
        *d = ulaw_to_linear(*s);
    }
    n
}

/// Decodes A-law `src` into `dst`; see [`decode_ulaw`].
pub fn decode_alaw(src: &[u8], dst: &mut [i16]) -> usize {
    let n = src.len().min(dst.len());
    for (d, s) in dst.iter_mut().zip(src) {
        *d = alaw_to_linear(*s);
    }
    n
}

/// Encodes `src` as µ-law into `dst`; see [`decode_ulaw`].
pub fn encode_ulaw(src: &[i16], dst: &mut [u8]) -> usize {
    let n = src.len().min(dst.len());
    for (d, s) in dst.iter_mut().zip(src) {
        *d = linear_to_ulaw(*s);
    }
    n
}

/// Encodes `src` as A-law into `dst`; see [`decode_ulaw`].
pub fn encode_alaw(src: &[i16], dst: &mut [u8]) -> usize {
    let n = src.len().min(dst.len());
    for (d, s) in dst.iter_mut().zip(src) {
        *d = linear_to_alaw(*s);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        // µ-law: G.711 Table 2a and g711.c
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(ulaw_to_linear(0x7E), -8);
        assert_eq!(ulaw_to_linear(0xEF), 132); // segment 1, step 0: 33 × 4
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_ulaw(8), 0xFE);
        assert_eq!(linear_to_ulaw(-8), 0x7E);
        // A-law: G.711 Table 1a and g711.c
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(Law::Ulaw.silence(), linear_to_ulaw(0));
        assert_eq!(Law::Alaw.silence(), linear_to_alaw(0));
    }

    #[test]
    fn segment_ends_match_the_standard() {
        // The largest reconstruction value of each µ-law segment, in
        // G.711's 14-bit units (Table 2a), times 4.
        let expected_top = [30, 93, 219, 471, 975, 1983, 3999, 8031];
        for (seg, top) in expected_top.iter().enumerate() {
            // positive codes: 0xFF - (seg<<4) is the segment's smallest
            // step, 0xF0 - (seg<<4) its largest.
            let code = 0xF0 - ((seg as u8) << 4);
            assert_eq!(i32::from(ulaw_to_linear(code)), top * 4, "segment {seg}");
        }
    }

    #[test]
    fn round_trip_all_codes() {
        for code in 0..=255u8 {
            let back = linear_to_ulaw(ulaw_to_linear(code));
            if code == 0x7F {
                assert_eq!(back, 0xFF, "negative zero encodes as zero");
            } else {
                assert_eq!(back, code, "µ-law {code:#04x}");
            }
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "A-law {code:#04x}"
            );
        }
    }

    #[test]
    fn decoding_is_odd_symmetric() {
        for code in 0..=127u8 {
            assert_eq!(ulaw_to_linear(code), -ulaw_to_linear(code | 0x80));
            assert_eq!(alaw_to_linear(code), -alaw_to_linear(code | 0x80));
        }
    }

    #[test]
    fn encoding_is_monotonic_and_close() {
        let mut prev_u = i16::MIN;
        let mut prev_a = i16::MIN;
        for pcm in i16::MIN..=i16::MAX {
            let u = ulaw_to_linear(linear_to_ulaw(pcm));
            let a = alaw_to_linear(linear_to_alaw(pcm));
            assert!(u >= prev_u, "µ-law not monotonic at {pcm}");
            assert!(a >= prev_a, "A-law not monotonic at {pcm}");
            prev_u = u;
            prev_a = a;
            // Quantisation error stays within about half a step of the
            // segment (steps are 1/16 to 1/32 of the segment's level).
            let step = |v: i32| (v.abs() / 16).max(16);
            let p = i32::from(pcm);
            let (u, a) = (i32::from(u), i32::from(a));
            if p.abs() < 32000 {
                assert!((u - p).abs() <= step(p), "µ-law error at {pcm}: {u}");
                assert!((a - p).abs() <= step(p), "A-law error at {pcm}: {a}");
            }
        }
        // Decoded codes sort the same way as magnitudes (positive half).
        let mut ulaw: Vec<i16> = (0x80..=0xFFu8).rev().map(ulaw_to_linear).collect();
        let sorted = {
            let mut s = ulaw.clone();
            s.sort();
            s
        };
        assert_eq!(ulaw, sorted);
        ulaw.dedup();
        assert_eq!(ulaw.len(), 128);
    }

    #[test]
    fn transcoding_is_stable() {
        let mut inexact = 0;
        for a in 0..=255u8 {
            let once = ulaw_to_alaw(alaw_to_ulaw(a));
            assert_eq!(
                ulaw_to_alaw(alaw_to_ulaw(once)),
                once,
                "A→µ→A stable {a:#04x}"
            );
            inexact += usize::from(once != a);
            let la = i32::from(alaw_to_linear(a));
            let lu = i32::from(ulaw_to_linear(alaw_to_ulaw(a)));
            assert!((lu - la).abs() <= 132, "{a:#04x}: {la} vs {lu}");
        }
        // The grids differ in 16 places (8 per sign); most codes survive.
        assert_eq!(inexact, 16);
        assert_eq!(ulaw_to_alaw(0xFF), 0xD5, "silence maps to silence");
        assert_eq!(alaw_to_ulaw(0xD5), 0xFE, "A-law +8 is µ-law +8");
        for u in 0..=255u8 {
            let once = alaw_to_ulaw(ulaw_to_alaw(u));
            assert_eq!(
                alaw_to_ulaw(ulaw_to_alaw(once)),
                once,
                "µ→A→µ stable {u:#04x}"
            );
            // and close: the A-law value is within one A-law step of the µ-law one
            let lu = i32::from(ulaw_to_linear(u));
            let la = i32::from(alaw_to_linear(ulaw_to_alaw(u)));
            assert!(
                (lu - la).abs() <= (lu.abs() / 16).max(16),
                "{u:#04x}: {lu} vs {la}"
            );
        }
        // Transcoding preserves order.
        let mut prev = i16::MIN;
        for u in (0x00..=0x7Fu8).chain((0x80..=0xFFu8).rev()) {
            let v = alaw_to_linear(ulaw_to_alaw(u));
            assert!(v >= prev, "µ→A not monotonic at {u:#04x}");
            prev = v;
        }
    }

    #[test]
    fn slice_helpers_and_law() {
        let pcm = [0i16, 1000, -1000, 32000, -32000, 7];
        let mut codes = [0u8; 6];
        let mut back = [0i16; 8];
        for law in [Law::Ulaw, Law::Alaw] {
            assert_eq!(law.encode(&pcm, &mut codes), 6);
            for (c, p) in codes.iter().zip(pcm) {
                assert_eq!(*c, law.encode_sample(p));
            }
            assert_eq!(law.decode(&codes, &mut back), 6);
            for (b, c) in back.iter().zip(codes) {
                assert_eq!(*b, law.decode_sample(c));
            }
            assert_eq!(Law::from_payload_type(law.payload_type()), Some(law));
        }
        // shorter destination: count is the shorter length
        let mut two = [0u8; 2];
        assert_eq!(encode_ulaw(&pcm, &mut two), 2);
        let mut codes = [0u8; 6];
        encode_ulaw(&pcm, &mut codes);
        let orig = codes;
        Law::Ulaw.transcode_in_place(Law::Alaw, &mut codes);
        for (t, o) in codes.iter().zip(orig) {
            assert_eq!(*t, ulaw_to_alaw(o));
        }
        Law::Alaw.transcode_in_place(Law::Alaw, &mut codes);
        Law::Alaw.transcode_in_place(Law::Ulaw, &mut codes);
        assert_eq!(Law::from_payload_type(101), None);
    }
}
