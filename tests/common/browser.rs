//! A real headless Chromium (Debian's `chromium`), driven over the
//! Chrome DevTools Protocol on 127.0.0.1: open a page, run JavaScript in
//! it, wait for what the page shows. A hand-written CDP client of a few
//! calls (`Runtime.evaluate`, `Page.navigate`) over the websocket client
//! the tests already use, instead of a browser-automation crate: the tests
//! need nothing more.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Where Debian puts Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless Chromium with its own profile, killed on drop.
pub struct Browser {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts Chromium, or `None` when it is not installed (a loud skip,
    /// or a failure under `HIBIKI_TEST_REQUIRE_TOOLS=1`).
    pub async fn launch() -> Option<Browser> {
        if !super::have_tool(CHROMIUM, &["--version"], "chromium") {
            return None;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let child = Command::new(CHROMIUM)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                // The softphone test's server binds 127.0.0.1 only.
                "--allow-loopback-in-peer-connection",
                "--autoplay-policy=no-user-gesture-required",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        // Chromium writes the port it chose into DevToolsActivePort.
        let file: PathBuf = profile.path().join("DevToolsActivePort");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&file) {
                if let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
                    break port;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromium did not open its DevTools port"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Some(Browser {
            child,
            port,
            _profile: profile,
        })
    }

    /// Opens a new tab on `url`.
    pub async fn open(&self, url: &str) -> Page {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let target: Value = client
            // The whole query is the URL: its own `&`s must be escaped.
            .put(format!(
                "http://127.0.0.1:{}/json/new?{}",
                self.port,
                url.replace('&', "%26")
            ))
            .send()
            .await
            .expect("DevTools /json/new")
            .json()
            .await
            .expect("DevTools target JSON");
        let ws = target["webSocketDebuggerUrl"]
            .as_str()
            .expect("the target's websocket");
        let (socket, _) = tokio_tungstenite::connect_async(ws)
            .await
            .expect("DevTools websocket");
        let mut page = Page { socket, next_id: 1 };
        page.call("Runtime.enable", json!({})).await;
        page
    }
}

/// One tab.
pub struct Page {
    socket: Socket,
    next_id: u64,
}

impl Page {
    /// Sends a CDP command and returns its `result` (events in between are
    /// dropped).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("CDP send");
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .expect("CDP answer in time")
                .expect("CDP socket open")
                .expect("CDP message");
            let Message::Text(text) = m else { continue };
            let v: Value = serde_json::from_str(text.as_str()).expect("CDP JSON");
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page (promises awaited) and returns
    /// its value; panics on an exception.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        assert!(
            r.get("exceptionDetails").is_none(),
            "{expression}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy (not false/null/""/0) and
    /// returns that value.
    pub async fn wait_for(&mut self, expression: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let v = self.eval(expression).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page never showed `{expression}` within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element with this id.
    pub async fn click(&mut self, id: &str) {
        let found = self
            .eval(&format!(
                "(() => {{ const e = document.getElementById({id:?}); if (!e) return false; e.click(); return true; }})()"
            ))
            .await;
        assert_eq!(found, Value::Bool(true), "no element #{id}");
    }

    /// Types `text` into the input with this id.
    pub async fn fill(&mut self, id: &str, text: &str) {
        let found = self
            .eval(&format!(
                "(() => {{ const e = document.getElementById({id:?}); if (!e) return false; e.value = {text:?}; return true; }})()"
            ))
            .await;
        assert_eq!(found, Value::Bool(true), "no input #{id}");
    }
}
