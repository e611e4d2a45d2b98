//! The REST setup of a run (`docs/api.md`): the admin's login, the agent
//! users (created, or reused when they exist), their skill and their SIP
//! phone, and each agent's login for the websocket.

use std::net::SocketAddrV4;

use anyhow::{bail, Context, Result};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The API of one server.
#[derive(Clone, Debug)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

/// An agent to set up.
#[derive(Clone, Debug)]
pub struct AgentSpec {
    pub username: String,
    pub password: String,
    pub skill: String,
    pub level: u8,
    /// Their SIP phone: `sip:USERNAME@PHONE`.
    pub phone: SocketAddrV4,
}

impl Api {
    pub fn new(http: SocketAddrV4) -> Result<Api> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("an HTTP client")?;
        Ok(Api {
            client,
            base: format!("http://{http}/api/v1"),
        })
    }

    /// A token for `username`.
    pub async fn login(&self, username: &str, password: &str) -> Result<String> {
        let resp = self
            .client
            .post(format!("{}/auth/login", self.base))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .with_context(|| format!("logging in as {username}"))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status != StatusCode::OK {
            bail!("logging in as {username}: HTTP {status}: {body}");
        }
        body.get("token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("logging in as {username}: no token in {body}"))
    }

    /// Creates the agent (409, it exists: reused), then sets their skill
    /// and phone.
    pub async fn set_up_agent(&self, admin: &str, agent: &AgentSpec) -> Result<()> {
        let user = &agent.username;
        let resp = self
            .client
            .post(format!("{}/users", self.base))
            .bearer_auth(admin)
            .json(
                &json!({"username": user, "display_name": user, "role": "agent",
                          "password": agent.password}),
            )
            .send()
            .await
            .with_context(|| format!("creating {user}"))?;
        let status = resp.status();
        if status != StatusCode::CREATED && status != StatusCode::CONFLICT {
            bail!(
                "creating {user}: HTTP {status}: {}",
                resp.text().await.unwrap_or_default()
            );
        }
        self.put(
            admin,
            &format!("agents/{user}/skills"),
            json!([{"skill": agent.skill, "level": agent.level}]),
        )
        .await?;
        self.put(
            admin,
            &format!("agents/{user}/device"),
            json!({"sip_uri": device_uri(user, agent.phone)}),
        )
        .await
    }

    async fn put(&self, token: &str, path: &str, body: Value) -> Result<()> {
        let resp = self
            .client
            .put(format!("{}/{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("PUT {path}"))?;
        let status = resp.status();
        if !status.is_success() {
            bail!(
                "PUT {path}: HTTP {status}: {}",
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }
}

/// The agent's SIP phone: their name at the tool's one SIP socket.
pub fn device_uri(username: &str, phone: SocketAddrV4) -> String {
    format!("sip:{username}@{phone}")
}

/// The agent websocket's URL for `token` (base64url: no escaping needed).
pub fn websocket_url(http: SocketAddrV4, token: &str) -> String {
    format!("ws://{http}/api/v1/agent/ws?token={token}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn urls() {
        let phone = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5099);
        assert_eq!(device_uri("agent7", phone), "sip:agent7@127.0.0.1:5099");
        let http = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080);
        assert_eq!(
            websocket_url(http, "q7N0b3Qt-_x"),
            "ws://127.0.0.1:8080/api/v1/agent/ws?token=q7N0b3Qt-_x"
        );
    }
}
