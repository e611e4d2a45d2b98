#!/usr/bin/env bash
# Fuzzes Hibiki's parsers of hostile input for a bounded time per target.
#
#   scripts/fuzz.sh                 # every target, 60 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh parse_message
#   scripts/fuzz.sh rtp flow        # some targets
#
# Two cargo-fuzz projects, both outside the workspace:
# - sip/fuzz/ (the hibiki-sip crate): parse_message, frame, sdp. Seeds: the
#   RFC 4475/5118 torture corpus plus sip/tests/malformed/ (and three SDP
#   bodies for sdp).
# - fuzz/ (the server crate, hibiki): rtp (a run of datagrams through an
#   RTP leg's chain: parse, latch, streams, RFC 4733, G.711, in-band DTMF,
#   recording timeline, relay; seeds in fuzz/seeds/rtp/) and flow (IVR flow
#   files: load, validate, expressions, schedules, a simulated call; seeds:
#   ivr-flows/, bench/ivr-flows/ and tests/ivr-broken/). These are built
#   with debug assertions, so integer overflow counts as a crash too.
# Each target's corpus grows in <project>/corpus/<target>/ (not committed).
# Crashes land in <project>/artifacts/<target>/; reproduce one with
#   (cd sip/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <file>)
#   (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -a <target> <file>)
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address and friends).
# This project's machines carry one stable toolchain and cannot fetch
# another, so on stable the script sets RUSTC_BOOTSTRAP=1, which lets the
# stable compiler accept them; the ASan runtime ships with stable too.
# Not part of the test suite: it is slow by design (the first build of the
# server crate with sanitizers takes several minutes).
set -euo pipefail

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi

torture=""
for c in "$root/../shared/sip-torture" "$root/../../shared/sip-torture"; do
    if [ -d "$c" ]; then torture="$c"; break; fi
done

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(parse_message frame sdp rtp flow)
fi

for t in "${targets[@]}"; do
    case "$t" in
        parse_message | frame | sdp) project="$root/sip/fuzz"; build=() ;;
        rtp | flow) project="$root/fuzz"; build=(--debug-assertions) ;;
        *) echo "fuzz.sh: no target $t (parse_message frame sdp rtp flow)" >&2; exit 2 ;;
    esac
    cd "$project"
    seeds="corpus/$t"
    mkdir -p "$seeds"
    case "$t" in
        parse_message | frame | sdp)
            if [ -n "$torture" ]; then
                find "$torture" -type f ! -name README.md ! -name SHA256SUMS ! -name '.*' \
                    -exec cp -n {} "$seeds/" \; 2>/dev/null || true
            fi
            cp -n "$root"/sip/tests/malformed/*.sip "$seeds/" 2>/dev/null || true
            ;;
        rtp)
            cp -n "$root"/fuzz/seeds/rtp/* "$seeds/"
            ;;
        flow)
            # Every flow we ship or test with, good and broken.
            cp -n "$root"/ivr-flows/*.toml "$root"/bench/ivr-flows/*.toml "$seeds/"
            for f in "$root"/tests/ivr-broken/*; do
                cp -n "$f" "$seeds/broken-$(basename "$f")"
            done
            ;;
    esac
    if [ "$t" = sdp ]; then
        # SDP seeds: a typical offer, a hold, and a two-stream offer.
        printf 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n' > "$seeds/offer.sdp"
        printf 'v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\na=sendonly\r\n' > "$seeds/hold.sdp"
        printf 'v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\nc=IN IP6 ::1\r\na=rtpmap:96 H264/90000\r\nm=audio 4002 RTP/SAVP 0\r\nm=audio 4004 RTP/AVP 18 0\r\nc=IN IP6 ::1\r\na=rtpmap:18 G729/8000\r\n' > "$seeds/two-streams.sdp"
    fi
    echo "fuzz.sh: $t for ${FUZZ_SECONDS}s" >&2
    cargo fuzz run ${build[@]+"${build[@]}"} "$t" "$seeds" -- \
        -max_total_time="$FUZZ_SECONDS" -max_len=16384 -timeout=10 -print_final_stats=1
done
echo "fuzz.sh: no crash in ${targets[*]}" >&2
