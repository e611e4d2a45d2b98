//! A real headless browser, driven on 127.0.0.1: open a page, run
//! JavaScript in it, wait for what the page shows. Chromium (Debian's
//! `chromium`) over the Chrome DevTools Protocol, or Firefox (Debian's
//! `firefox-esr`) over WebDriver BiDi; both with fake media devices. A
//! hand-written client of a few calls of each (`Runtime.evaluate` and
//! `Target` pages; `session.new`, `browsingContext.navigate`,
//! `script.evaluate`) over the websocket client the tests already use,
//! instead of a browser-automation crate (and a WebDriver server to run):
//! the tests need nothing more.

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
/// Where Debian puts Firefox ESR.
const FIREFOX: &str = "/usr/bin/firefox-esr";

/// Firefox's profile: fake media devices without a prompt, loopback ICE
/// candidates (the test server binds 127.0.0.1), and nothing fetched from
/// anywhere but the test server (the remote agent's recommended
/// preferences already quiet most background traffic).
const FIREFOX_PREFS: &str = r#"
user_pref("media.navigator.streams.fake", true);
user_pref("media.navigator.permission.disabled", true);
user_pref("media.autoplay.default", 0);
user_pref("media.peerconnection.ice.loopback", true);
user_pref("media.peerconnection.ice.obfuscate_host_addresses", false);
user_pref("remote.active-protocols", 1);
user_pref("app.update.disabledForTesting", true);
user_pref("app.normandy.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("services.settings.server", "http://127.0.0.1:9/");
user_pref("media.gmp-manager.url", "http://127.0.0.1:9/");
user_pref("extensions.update.enabled", false);
user_pref("messaging-system.rsexperimentloader.enabled", false);
"#;

/// Which browser, and where its remote protocol listens.
enum Remote {
    /// Chromium's DevTools HTTP port.
    Chromium { port: u16 },
    /// Firefox's WebDriver BiDi websocket (one session: one page at a
    /// time).
    Firefox { url: String },
}

/// A headless browser with its own profile, killed on drop.
pub struct Browser {
    child: Child,
    remote: Remote,
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
            remote: Remote::Chromium { port },
            _profile: profile,
        })
    }

    /// Starts Firefox ESR, or `None` when it is not installed (a loud
    /// skip, or a failure under `HIBIKI_TEST_REQUIRE_TOOLS=1`).
    pub async fn launch_firefox() -> Option<Browser> {
        if !super::have_tool(FIREFOX, &["--version"], "firefox-esr") {
            return None;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        std::fs::write(profile.path().join("user.js"), FIREFOX_PREFS).expect("user.js");
        let mut child = Command::new(FIREFOX)
            .args(["--headless", "--no-remote", "--profile"])
            .arg(profile.path())
            .args(["--remote-debugging-port", "0", "about:blank"])
            .env("MOZ_HEADLESS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start firefox");
        // Firefox prints where its BiDi server listens on stderr; the rest
        // of stderr is read and dropped so that the pipe never fills.
        let stderr = child.stderr.take().expect("firefox stderr");
        let (found, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("ws://") {
                    let _ = found.send(line[at..].trim().to_owned());
                }
            }
        });
        let url =
            tokio::task::spawn_blocking(move || listening.recv_timeout(Duration::from_secs(60)))
                .await
                .expect("join")
                .expect("firefox did not open its WebDriver BiDi port");
        Some(Browser {
            child,
            remote: Remote::Firefox { url },
            _profile: profile,
        })
    }

    /// Opens a page on `url`: a new tab in Chromium; in Firefox, the
    /// session's first tab (one page per Firefox).
    pub async fn open(&self, url: &str) -> Page {
        let port = match &self.remote {
            Remote::Chromium { port } => *port,
            Remote::Firefox { url: remote } => return open_bidi(remote, url).await,
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let target: Value = client
            // The whole query is the URL: its own `&`s must be escaped.
            .put(format!(
                "http://127.0.0.1:{}/json/new?{}",
                port,
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
        let mut page = Page {
            socket,
            next_id: 1,
            bidi_context: None,
        };
        page.call("Runtime.enable", json!({})).await;
        page
    }
}

/// Opens Firefox's BiDi session and navigates its first tab to `url`.
async fn open_bidi(remote: &str, url: &str) -> Page {
    let (socket, _) = tokio_tungstenite::connect_async(format!("{remote}/session"))
        .await
        .expect("WebDriver BiDi websocket");
    let mut page = Page {
        socket,
        next_id: 1,
        bidi_context: None,
    };
    page.call("session.new", json!({ "capabilities": {} }))
        .await;
    let tree = page.call("browsingContext.getTree", json!({})).await;
    let context = tree["contexts"][0]["context"]
        .as_str()
        .expect("a browsing context")
        .to_owned();
    page.call(
        "browsingContext.navigate",
        json!({ "context": context, "url": url, "wait": "complete" }),
    )
    .await;
    page.bidi_context = Some(context);
    page
}

/// One tab.
pub struct Page {
    socket: Socket,
    next_id: u64,
    /// Firefox: the tab's BiDi browsing context (Chromium: `None`, the
    /// socket is the tab's own).
    bidi_context: Option<String>,
}

impl Page {
    /// Sends a command (CDP, or BiDi in Firefox) and returns its `result`
    /// (events in between are dropped).
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
        if let Some(context) = self.bidi_context.clone() {
            return self.eval_bidi(&context, expression).await;
        }
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

    /// `eval` over BiDi: the value comes back as JSON text (BiDi's own
    /// serialisation of values is richer than the tests need).
    async fn eval_bidi(&mut self, context: &str, expression: &str) -> Value {
        let wrapped = format!("(async () => JSON.stringify(await ({expression})))()");
        let r = self
            .call(
                "script.evaluate",
                json!({
                    "expression": wrapped,
                    "target": { "context": context },
                    "awaitPromise": true,
                    "resultOwnership": "none",
                }),
            )
            .await;
        assert_eq!(
            r["type"], "success",
            "{expression}: {}",
            r["exceptionDetails"]
        );
        match r["result"]["value"].as_str() {
            Some(text) => serde_json::from_str(text).expect("JSON from the page"),
            // `undefined`, which JSON.stringify leaves as is.
            None => Value::Null,
        }
    }

    /// Reloads the page and waits for it to load.
    pub async fn reload(&mut self) {
        match self.bidi_context.clone() {
            Some(context) => {
                self.call(
                    "browsingContext.reload",
                    json!({ "context": context, "wait": "complete" }),
                )
                .await;
            }
            None => {
                self.call("Page.reload", json!({})).await;
            }
        }
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
