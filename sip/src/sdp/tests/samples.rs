//! Session descriptions as real peers write them (addresses and keys
//! changed), with LF line ends; [`crlf`] gives the wire form.

/// The wire form: every LF becomes CRLF.
pub fn crlf(lf: &str) -> String {
    lf.replace('\n', "\r\n")
}

/// SIPp's `uac_pcap` scenario: PCMA and telephone-event.
pub const SIPP_PCAP_OFFER: &str = "v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-11,16
";

/// SIPp's built-in `uac` scenario: PCMU only.
pub const SIPP_UAC_OFFER: &str = "v=0
o=user1 53655765 2353687637 IN IP4 127.0.1.1
s=-
c=IN IP4 127.0.1.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
";

/// baresip: opus first, G.711 later, rtcp-mux, a bandwidth line.
pub const BARESIP_OFFER: &str = "v=0
o=- 1385064302 2049276915 IN IP4 192.168.1.10
s=-
c=IN IP4 192.168.1.10
t=0 0
m=audio 10390 RTP/AVP 96 9 0 8 101
b=AS:64
a=rtpmap:96 opus/48000/2
a=fmtp:96 stereo=1;sprop-stereo=1
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=rtcp-mux
a=ptime:20
a=sendrecv
a=label:1
a=ssrc:2939137530 cname:sip:alice@example.com
";

/// Linphone: many codecs, PCMA listed before PCMU, telephone-event at
/// three clock rates (only the 8 kHz one, PT 100, fits G.711), RTCP-XR at
/// session level, and a video stream.
pub const LINPHONE_OFFER: &str = "v=0
o=linphone 2140 1066 IN IP4 192.168.0.20
s=Talk
c=IN IP4 192.168.0.20
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
m=audio 7078 RTP/AVP 96 97 98 8 0 18 101 99 100
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=fmtp:97 vbr=on
a=rtpmap:98 speex/8000
a=fmtp:98 vbr=on
a=fmtp:18 annexb=yes
a=rtpmap:101 telephone-event/48000
a=rtpmap:99 telephone-event/16000
a=rtpmap:100 telephone-event/8000
a=rtcp-mux
a=rtcp-fb:* trr-int 1000
a=rtcp-fb:* ccm tmmbr
m=video 9078 RTP/AVP 96 97
a=rtpmap:96 VP8/90000
a=rtpmap:97 H264/90000
a=fmtp:97 profile-level-id=42801F
a=rtcp-fb:* trr-int 1000
a=rtcp-fb:* ccm tmmbr
a=rtcp-fb:96 nack pli
a=rtcp-fb:96 ccm fir
";

/// Chrome: BUNDLE, ICE, DTLS fingerprint, header extensions, SSRCs, a
/// data channel; audio over UDP/TLS/RTP/SAVPF.
pub const CHROME_OFFER: &str = "v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS 6f1a5c9e-3b1d-4f7e-9a2c-0d3e4b5a6c7d
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:Ts4r
a=ice-pwd:kVaQ9RyHnDZuVYQ+zVYiH3mX
a=ice-options:trickle
a=fingerprint:sha-256 8A:43:1F:57:0C:86:6F:93:B2:7D:E5:0E:23:AE:2D:61:4E:1A:A8:F2:9C:4B:65:D0:11:72:33:C4:F9:8E:AB:07
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendrecv
a=msid:6f1a5c9e-3b1d-4f7e-9a2c-0d3e4b5a6c7d 1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:3735928559 cname:4TOk42mSjXCkVIa6
a=ssrc:3735928559 msid:6f1a5c9e-3b1d-4f7e-9a2c-0d3e4b5a6c7d 1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=ice-ufrag:Ts4r
a=ice-pwd:kVaQ9RyHnDZuVYQ+zVYiH3mX
a=ice-options:trickle
a=fingerprint:sha-256 8A:43:1F:57:0C:86:6F:93:B2:7D:E5:0E:23:AE:2D:61:4E:1A:A8:F2:9C:4B:65:D0:11:72:33:C4:F9:8E:AB:07
a=setup:actpass
a=mid:1
a=sctp-port:5000
a=max-message-size:262144
";

/// Asterisk's answer to an offer of PCMU, PCMA and telephone-event 101
/// (it prefers A-law here).
pub const ASTERISK_ANSWER: &str = "v=0
o=- 1718274112 1718274114 IN IP4 10.0.0.5
s=Asterisk
c=IN IP4 10.0.0.5
t=0 0
m=audio 17354 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
";

/// A fax gateway's re-INVITE offer: audio and T.38 (`m=image … udptl`).
pub const T38_OFFER: &str = "v=0
o=gw 1000 1001 IN IP4 198.51.100.7
s=session
c=IN IP4 198.51.100.7
t=0 0
m=audio 49170 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
m=image 49172 udptl t38
a=T38FaxVersion:0
a=T38MaxBitRate:14400
a=T38FaxRateManagement:transferredTCF
a=T38FaxMaxDatagram:400
a=T38FaxUdpEC:t38UDPRedundancy
";

/// Every sample, named.
pub const ALL: &[(&str, &str)] = &[
    ("sipp_pcap_offer", SIPP_PCAP_OFFER),
    ("sipp_uac_offer", SIPP_UAC_OFFER),
    ("baresip_offer", BARESIP_OFFER),
    ("linphone_offer", LINPHONE_OFFER),
    ("chrome_offer", CHROME_OFFER),
    ("asterisk_answer", ASTERISK_ANSWER),
    ("t38_offer", T38_OFFER),
];
