//! `[softphone]`: where agents' WebRTC connections bind, what address they
//! advertise, and the STUN/TURN servers for agents behind NAT.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Secret;

/// Settings of every agent's softphone connection.
///
/// Serde-ready for a `[softphone]` table of the config file (unknown keys
/// refused, every key optional).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SoftphoneConfig {
    /// The address agents' connections bind (host candidates). A wildcard
    /// (`0.0.0.0`, `::`) means every non-loopback interface.
    pub bind_ip: IpAddr,
    /// The public address of a 1:1 NAT in front of `bind_ip`: advertised
    /// instead of the host addresses.
    pub public_ip: Option<IpAddr>,
    /// The UDP ports connections take, one per agent (inclusive). Both 0:
    /// any port the kernel gives.
    pub port_min: u16,
    pub port_max: u16,
    /// STUN servers (`stun:host:port`), used by Hibiki to learn its
    /// server-reflexive address and handed to the page for the browser's.
    pub stun: Vec<String>,
    /// TURN servers, for both sides likewise.
    pub turn: Vec<TurnServer>,
    /// How long [`Softphone::wait_connected`](super::Softphone::wait_connected)
    /// waits for ICE and DTLS.
    pub connect_timeout_ms: u64,
    /// How long an answer waits for candidate gathering (STUN/TURN
    /// replies) before it is sent with what was gathered.
    pub gather_timeout_ms: u64,
}

impl Default for SoftphoneConfig {
    fn default() -> Self {
        SoftphoneConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            public_ip: None,
            port_min: 0,
            port_max: 0,
            stun: Vec::new(),
            turn: Vec::new(),
            connect_timeout_ms: 10_000,
            gather_timeout_ms: 2_000,
        }
    }
}

/// A TURN server and its long-term credentials.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TurnServer {
    /// `turn:host:port?transport=udp` or `turns:…`.
    pub url: String,
    pub username: String,
    pub credential: Secret,
}

/// One entry of the page's `RTCConfiguration.iceServers`, serialized the
/// way the browser API spells it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrowserIceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl SoftphoneConfig {
    /// A configuration for tests and one-machine setups: bind
    /// `127.0.0.1`, any port, no STUN/TURN.
    pub fn loopback() -> SoftphoneConfig {
        SoftphoneConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ..SoftphoneConfig::default()
        }
    }

    /// `connect_timeout_ms` as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// `gather_timeout_ms` as a duration.
    pub fn gather_timeout(&self) -> Duration {
        Duration::from_millis(self.gather_timeout_ms)
    }

    /// The page's `iceServers`: the same STUN and TURN servers Hibiki uses
    /// (this carries TURN credentials: send it to the logged-in agent only).
    pub fn browser_ice_servers(&self) -> Vec<BrowserIceServer> {
        let stun = (!self.stun.is_empty()).then(|| BrowserIceServer {
            urls: self.stun.clone(),
            username: None,
            credential: None,
        });
        let turn = self.turn.iter().map(|turn| BrowserIceServer {
            urls: vec![turn.url.clone()],
            username: Some(turn.username.clone()),
            credential: Some(turn.credential.expose().to_owned()),
        });
        stun.into_iter().chain(turn).collect()
    }

    /// The servers in the crate's form.
    pub(super) fn ice_servers(&self) -> Vec<webrtc::peer_connection::RTCIceServer> {
        let stun = (!self.stun.is_empty()).then(|| webrtc::peer_connection::RTCIceServer {
            urls: self.stun.clone(),
            ..Default::default()
        });
        let turn = self
            .turn
            .iter()
            .map(|turn| webrtc::peer_connection::RTCIceServer {
                urls: vec![turn.url.clone()],
                username: turn.username.clone(),
                credential: turn.credential.expose().to_owned(),
            });
        stun.into_iter().chain(turn).collect()
    }

    /// The ports to try, in order: all of `port_min..=port_max` starting at
    /// `start` (wrapping), or just 0 (kernel's choice) when no range is set.
    pub(super) fn ports_from(&self, start: u32) -> Vec<u16> {
        if self.port_min == 0 && self.port_max == 0 {
            return vec![0];
        }
        let (min, max) = (
            u32::from(self.port_min.min(self.port_max)),
            u32::from(self.port_max.max(self.port_min)),
        );
        let span = max - min + 1;
        (0..span)
            .filter_map(|i| u16::try_from(min + (start + i) % span).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_wrap_around_the_range_from_the_cursor() {
        let config = SoftphoneConfig {
            port_min: 40_000,
            port_max: 40_003,
            ..SoftphoneConfig::default()
        };
        assert_eq!(config.ports_from(2), vec![40_002, 40_003, 40_000, 40_001]);
        assert_eq!(SoftphoneConfig::default().ports_from(7), vec![0]);
    }

    #[test]
    fn browser_ice_servers_follow_the_browser_api() {
        let config = SoftphoneConfig {
            stun: vec!["stun:stun.example.net:3478".to_owned()],
            turn: vec![TurnServer {
                url: "turn:turn.example.net:3478?transport=udp".to_owned(),
                username: "agent".to_owned(),
                credential: Secret::new("s3cret"),
            }],
            ..SoftphoneConfig::default()
        };
        let json = serde_json::to_value(config.browser_ice_servers()).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"urls": ["stun:stun.example.net:3478"]},
                {"urls": ["turn:turn.example.net:3478?transport=udp"], "username": "agent", "credential": "s3cret"}
            ])
        );
    }
}
