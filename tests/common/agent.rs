//! An agent's websocket, as a test drives it: connect with a token, send
//! requests, wait for the events the server pushes.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One agent session.
pub struct AgentSocket {
    socket: Socket,
    /// Every message received, in order (also those skipped while waiting
    /// for another type).
    pub seen: Vec<Value>,
    /// Events that arrived while [`AgentSocket::request`] waited for its
    /// reply: read before the socket by the next waits.
    pending: std::collections::VecDeque<Value>,
    next_id: u64,
}

/// Why a connection was refused: the HTTP status of the upgrade.
pub async fn refused_status(http: SocketAddr, query: &str) -> Option<u16> {
    let url = format!("ws://{http}/api/v1/agent/ws{query}");
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => None,
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Some(resp.status().as_u16()),
        Err(e) => panic!("unexpected websocket error: {e}"),
    }
}

impl AgentSocket {
    /// Connects with `token` and reads the `welcome`.
    pub async fn connect(http: SocketAddr, token: &str) -> (AgentSocket, Value) {
        let url = format!("ws://{http}/api/v1/agent/ws?token={token}");
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("agent websocket connect");
        let mut agent = AgentSocket {
            socket,
            seen: Vec::new(),
            pending: std::collections::VecDeque::new(),
            next_id: 1,
        };
        let welcome = agent.next_of("welcome", Duration::from_secs(10)).await;
        (agent, welcome)
    }

    /// Sends `request` with a fresh `id` and returns the reply (`ok`,
    /// `pong` or `error`) with that id.
    pub async fn request(&mut self, mut request: Value) -> Value {
        let id = format!("r{}", self.next_id);
        self.next_id += 1;
        request["id"] = json!(id);
        self.send_text(&request.to_string()).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let m = self.read(deadline).await;
            if m["id"] == json!(id) {
                return m;
            }
            self.pending.push_back(m);
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("websocket send");
    }

    /// The next message of `kind` (`type`), within `within`.
    pub async fn next_of(&mut self, kind: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let m = self.next(deadline).await;
            if m["type"] == kind {
                return m;
            }
        }
    }

    /// The next `agent.state` whose status is `status`.
    pub async fn state(&mut self, status: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let m = self.next(deadline).await;
            if m["type"] == "agent.state" && m["status"] == status {
                return m;
            }
        }
    }

    async fn next(&mut self, deadline: tokio::time::Instant) -> Value {
        match self.pending.pop_front() {
            Some(m) => m,
            None => self.read(deadline).await,
        }
    }

    async fn read(&mut self, deadline: tokio::time::Instant) -> Value {
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = match tokio::time::timeout(left, self.socket.next()).await {
                Ok(Some(Ok(m))) => m,
                Ok(Some(Err(e))) => panic!("websocket error: {e}; seen {:#?}", self.seen),
                Ok(None) => panic!("websocket closed; seen {:#?}", self.seen),
                Err(_) => panic!("timed out; seen {:#?}", self.seen),
            };
            match m {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("JSON message");
                    self.seen.push(v.clone());
                    return v;
                }
                Message::Close(frame) => panic!("closed by the server: {frame:?}"),
                _ => {}
            }
        }
    }

    /// Waits for the server to close the socket; returns the close code.
    pub async fn closed(&mut self, within: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.socket.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(Message::Text(t)))) => {
                    self.seen
                        .push(serde_json::from_str(t.as_str()).unwrap_or(Value::Null));
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => return None,
                Err(_) => panic!("the socket was not closed in time"),
            }
        }
    }
}
