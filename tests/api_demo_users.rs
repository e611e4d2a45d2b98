//! The demo users of the embedded default: `hibiki serve` with no config
//! file, on free ports and a temp data dir through `HIBIKI_*` overrides,
//! prints `admin`, `supervisor`, `manager`, `agent1` and `agent2` with
//! their passwords once in a box on stdout (the log says it did, without
//! them); the passwords log in; the demo customers are in the database;
//! the next start prints and creates nothing. SQLite, as the embedded
//! default is.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::api::{hibiki, Api};

/// `hibiki serve` with no config file (the embedded default), on free
/// ports and a temp data dir through `HIBIKI_*` overrides. Killed on drop.
struct EmbeddedServer {
    child: std::process::Child,
    http: std::net::SocketAddr,
    stdout: std::path::PathBuf,
    stderr: std::path::PathBuf,
}

impl EmbeddedServer {
    async fn start(data: &std::path::Path, run: u32) -> EmbeddedServer {
        let sip = common::free_port_udp_tcp("127.0.0.1");
        let http = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free TCP port");
        let stdout = data.join(format!("stdout-{run}.log"));
        let stderr = data.join(format!("stderr-{run}.log"));
        let prompts = concat!(env!("CARGO_MANIFEST_DIR"), "/ivr-flows/prompts");
        let flows = concat!(env!("CARGO_MANIFEST_DIR"), "/ivr-flows");
        let child = hibiki()
            .arg("serve")
            .env("HIBIKI_SIP_LISTEN", format!("127.0.0.1:{sip}"))
            .env("HIBIKI_HTTP_LISTEN", http.to_string())
            .env("HIBIKI_DATA_DIR", data.join("data"))
            .env("HIBIKI_MEDIA_PROMPTS_DIR", prompts)
            // The embedded default's number 100 runs the shipped demo flow.
            .env("HIBIKI_IVR_FLOWS_DIR", flows)
            .env("RUST_LOG", "info")
            .current_dir(data)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("run hibiki serve");
        let mut server = EmbeddedServer {
            child,
            http,
            stdout,
            stderr,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let url = format!("http://{}/readyz", self.http);
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("hibiki exited ({status}):\n{}", self.logs());
            }
            if let Ok(resp) = client.get(&url).send().await {
                if resp.status().as_u16() == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "not ready:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stdout_text(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn logs(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            self.stdout_text(),
            self.stderr_text()
        )
    }

    /// SIGTERM, then waits (bounded) for the exit.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("hibiki did not stop on SIGTERM:\n{}", self.logs());
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_default_prints_demo_users_once_on_its_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(dir.path(), 1).await;
    let stdout = server.stdout_text();
    let block_start = stdout
        .find("+-")
        .unwrap_or_else(|| panic!("no box:\n{}", server.logs()));
    let block = &stdout[block_start..];
    assert!(block.contains("hibiki user passwd"), "{block}");
    let mut passwords = std::collections::HashMap::new();
    for (name, role) in [
        ("admin", "admin"),
        ("supervisor", "supervisor"),
        ("manager", "manager"),
        ("agent1", "agent"),
        ("agent2", "agent"),
    ] {
        let line = block
            .lines()
            .find(|l| {
                l.strip_prefix("| ")
                    .is_some_and(|r| r.starts_with(&format!("{name} ")))
            })
            .unwrap_or_else(|| panic!("{name} missing from the box:\n{block}"));
        let fields: Vec<&str> = line
            .trim_matches(|c| c == '|' || c == ' ')
            .split_whitespace()
            .collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert_eq!((fields[0], fields[1]), (name, role), "{line}");
        passwords.insert(name, fields[2].to_owned());
    }
    // The log says so, without the passwords.
    let stderr = server.stderr_text();
    assert!(stderr.contains("created the demo users"), "{stderr}");
    for pw in passwords.values() {
        assert!(!stderr.contains(pw.as_str()), "a password reached the log");
    }
    // The printed passwords work.
    let api = Api {
        base: format!("http://{}/api/v1", server.http),
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
    };
    let login = api.login("supervisor", &passwords["supervisor"]).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.body["user"]["role"], "supervisor");
    let admin = api.token("admin", &passwords["admin"]).await;
    let users = api.get("/users", Some(&admin)).await;
    assert_eq!(users.body.as_array().map(Vec::len), Some(5));
    assert!(stderr.contains("created the demo customers"), "{stderr}");
    server.stop();

    // The demo customers are in the database, found by their numbers.
    let db = dir.path().join("data").join("hibiki.db");
    let store = hibiki::store::Store::connect(&format!("sqlite://{}", db.display()), 1)
        .await
        .unwrap();
    for (number, name, prompt) in [
        (
            "+81312345678",
            "Hanako Yamada",
            Some("customer-hanako-yamada"),
        ),
        (
            "+819012345678",
            "Hanako Yamada",
            Some("customer-hanako-yamada"),
        ),
        ("+14155550100", "John Smith", Some("customer-john-smith")),
        ("+81612345678", "Taro Suzuki", None),
    ] {
        let c = store
            .customer_by_phone(number)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no demo customer has {number}"));
        assert_eq!((c.name.as_str(), c.name_prompt.as_deref()), (name, prompt));
    }
    assert_eq!(store.count_customers().await.unwrap(), 3);
    store.close().await;

    // The next start finds users and prints nothing.
    let again = EmbeddedServer::start(dir.path(), 2).await;
    let stdout = again.stdout_text();
    assert!(!stdout.contains("+-"), "printed again:\n{stdout}");
    assert!(!again.stderr_text().contains("created the demo users"));
    assert!(!again.stderr_text().contains("created the demo customers"));
    again.stop();
}
