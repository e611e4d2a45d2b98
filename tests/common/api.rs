//! Helpers for tests of the HTTP API through the real server: [`Api`]
//! (JSON requests with or without a bearer token, [`Answer`] with the
//! error-shape assertion), the `hibiki user` CLI against a server's
//! database ([`user_cli`], [`add_user`]), and RFC 3339 parsing for the
//! API's times.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use super::TestServer;

/// `hibiki` with no `HIBIKI_*` from the test's environment.
pub fn hibiki() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hibiki"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HIBIKI_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// Runs `hibiki --config <server's file> user ARGS` with `stdin`;
/// returns (success, stdout, stderr).
pub fn user_cli(server: &TestServer, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut cmd = hibiki();
    cmd.arg("--config")
        .arg(server.dir().join("hibiki.toml"))
        .arg("user")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run hibiki user");
    if let Some(text) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("hibiki user output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Creates a user with the CLI, password from stdin.
pub fn add_user(server: &TestServer, username: &str, role: &str, password: &str) {
    let (ok, stdout, stderr) = user_cli(
        server,
        &["add", username, "--role", role, "--password-stdin"],
        Some(&format!("{password}\n")),
    );
    assert!(ok, "hibiki user add {username}: {stdout}\n{stderr}");
    assert!(
        !stdout.contains(password),
        "a given password is never echoed: {stdout}"
    );
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// Asserts the JSON error shape and returns the message.
    pub fn error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{:?}", self.body);
        assert_eq!(self.body["error"], code, "{:?}", self.body);
        let message = self.body["message"].as_str().unwrap_or("").to_owned();
        assert!(!message.is_empty(), "an error says why: {:?}", self.body);
        message
    }
}

pub struct Api {
    /// `http://<server>/api/v1`.
    pub base: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(server: &TestServer) -> Api {
        Api {
            base: format!("http://{}/api/v1", server.http),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .no_proxy()
                .build()
                .expect("client"),
        }
    }

    pub async fn send(&self, req: reqwest::RequestBuilder, token: Option<&str>) -> Answer {
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.expect("HTTP request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req, token).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        let req = self.client.post(format!("{}{path}", self.base)).json(&body);
        self.send(req, token).await
    }

    pub async fn post_raw(&self, path: &str, content_type: Option<&str>, body: &str) -> Answer {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .body(body.to_owned());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        self.send(req, None).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Answer {
        self.post(
            "/auth/login",
            None,
            json!({"username": username, "password": password}),
        )
        .await
    }

    /// Logs in and returns the token; panics unless 200.
    pub async fn token(&self, username: &str, password: &str) -> String {
        let a = self.login(username, password).await;
        assert_eq!(a.status, 200, "login {username}: {:?}", a.body);
        a.body["token"].as_str().expect("token").to_owned()
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Parses the API's `YYYY-MM-DDTHH:MM:SS.mmmZ` to epoch milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> i64 {
    let num = |range: std::ops::Range<usize>| -> i64 {
        s.get(range.clone())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("not RFC 3339 at {range:?}: {s:?}"))
    };
    assert_eq!(s.len(), 24, "{s:?}");
    assert!(s.ends_with('Z') && &s[10..11] == "T", "{s:?}");
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + num(11..13) * 3600 + num(14..16) * 60 + num(17..19);
    secs * 1000 + num(20..23)
}

#[cfg(test)]
mod api_helper_tests {
    use super::parse_rfc3339_ms;

    #[test]
    fn the_rfc3339_parser_is_right() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00.000Z"), 0);
        assert_eq!(
            parse_rfc3339_ms("2024-02-29T23:59:59.999Z"),
            1_709_251_199_999
        );
    }
}
