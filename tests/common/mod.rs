//! The real-server test harness: starts the `hibiki` binary itself on
//! 127.0.0.1 and gives tests the peers to drive it with.
//!
//! - [`TestServer::start`] writes a config file (free SIP and HTTP ports, a
//!   temp data dir, the test's trunks/routes TOML snippet), picks the
//!   database from `HIBIKI_TEST_DB` (`sqlite`, the default: a file in the
//!   temp dir; `postgres`: a fresh `hibiki_it_<random>` database created
//!   with the admin URL `HIBIKI_TEST_POSTGRES_URL`, default
//!   `postgres://postgres@127.0.0.1:5432/postgres`, dropped with the
//!   server), runs `hibiki serve --config FILE` and waits (bounded) for
//!   `/readyz`. stdout/stderr go to files in the temp dir; the last lines of
//!   stderr are printed when a test panics.
//! - Peers: [`TestServer::sipp`] runs a scenario of `tests/sipp/`;
//!   [`UdpPeer`] and [`TcpPeer`] send raw bytes and read SIP responses.
//! - Observations: [`TestServer::store`] (the same database),
//!   [`TestServer::wait_for_calls`], [`TestServer::metrics_text`].
//! - The HTTP API: [`api`] (requests with tokens, the `hibiki user` CLI).
//! - Shutdown: dropping the server sends SIGTERM, then SIGKILL after a
//!   bound; [`TestServer::terminate`] and [`TestServer::wait_exit`] let a
//!   test watch a graceful shutdown.
//!
//! - Submodules: [`media`] (the demo route's server, recordings, digits
//!   and audio comparison) and [`baresip`] (a real softphone).
//!
//! Plain polling with a bound is used only where the server offers no event
//! to await (readiness, a row appearing in the database).
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod agent;
pub mod api;
pub mod baresip;
pub mod browser;
pub mod ivr;
pub mod media;
pub mod queue;

use std::net::{SocketAddr, TcpListener, UdpSocket as StdUdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use hibiki::store::{CallRecord, Store};
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The trunk and routes most tests want: calls from 127.0.0.1 only; `100`
/// answers at once, `486` is busy.
pub const DEFAULT_ROUTES: &str = r#"
[[trunks]]
name = "carrier"
[trunks.inbound]
sources = ["127.0.0.1/32"]

[[routes]]
number = "100"
action = "test"
ring_ms = 0

[[routes]]
number = "486"
action = "reject"
status = 486
"#;

/// How long the server gets to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a dropped server gets between SIGTERM and SIGKILL.
const DROP_GRACE: Duration = Duration::from_secs(5);

// ------------------------------------------------------------ databases ---

/// Which database the real-server tests run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// `HIBIKI_TEST_DB`: `sqlite` (default) or `postgres`.
pub fn db_kind() -> DbKind {
    match std::env::var("HIBIKI_TEST_DB").as_deref() {
        Ok("postgres") | Ok("postgresql") => DbKind::Postgres,
        Ok("sqlite") | Ok("") | Err(_) => DbKind::Sqlite,
        Ok(other) => panic!("HIBIKI_TEST_DB={other:?}: expected sqlite or postgres"),
    }
}

fn pg_admin_url() -> String {
    std::env::var("HIBIKI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The admin URL with its database name replaced.
fn pg_url_for(database: &str) -> String {
    let admin = pg_admin_url();
    let (base, _) = admin.rsplit_once('/').unwrap_or((&admin, ""));
    format!("{base}/{database}")
}

/// A fresh PostgreSQL database, dropped (with its connections) on drop.
struct PgDatabase {
    name: String,
}

impl PgDatabase {
    async fn create() -> PgDatabase {
        let admin_url = pg_admin_url();
        let connect = sqlx::PgConnection::connect(&admin_url);
        let mut admin = match tokio::time::timeout(Duration::from_secs(10), connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!(
                "HIBIKI_TEST_DB=postgres but PostgreSQL does not answer on {}: {e} \
                 (run ./scripts/test.sh, which starts it, or set HIBIKI_TEST_POSTGRES_URL)",
                redact(&admin_url)
            ),
            Err(_) => panic!("HIBIKI_TEST_DB=postgres: connecting to PostgreSQL timed out"),
        };
        let name = format!("hibiki_it_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = admin.close().await;
        PgDatabase { name }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside a runtime: do the async work on a thread.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(sqlx::Error::Io)?;
            rt.block_on(async move {
                let mut admin = sqlx::PgConnection::connect(&pg_admin_url()).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("could not drop test database {}: panicked", self.name),
        }
    }
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..s + 3], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

// ---------------------------------------------------------------- ports ---

/// A port free for both UDP and TCP on `ip` right now (released on return;
/// the server start is retried if someone takes it meanwhile).
pub fn free_port_udp_tcp(ip: &str) -> u16 {
    for _ in 0..100 {
        let udp = StdUdpSocket::bind((ip, 0)).expect("bind UDP :0");
        let port = udp.local_addr().expect("local addr").port();
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on {ip}");
}

/// A UDP port free on `ip` right now.
pub fn free_udp_port(ip: &str) -> u16 {
    let udp = StdUdpSocket::bind((ip, 0)).expect("bind UDP :0");
    udp.local_addr().expect("local addr").port()
}

fn free_tcp_port() -> u16 {
    let l = TcpListener::bind(("127.0.0.1", 0)).expect("bind TCP :0");
    l.local_addr().expect("local addr").port()
}

// --------------------------------------------------------------- server ---

/// What a test can choose about the server it starts.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// TOML appended to the generated file: trunks, routes, extra tables.
    /// `{sip}` stands for the server's own SIP address (a trunk that loops
    /// back to it).
    pub routes: String,
    /// `[shutdown] grace_seconds`.
    pub grace_seconds: u64,
    /// Extra environment for the server process.
    pub env: Vec<(String, String)>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            routes: DEFAULT_ROUTES.to_owned(),
            grace_seconds: 10,
            env: Vec::new(),
        }
    }
}

/// A running `hibiki serve` on 127.0.0.1.
pub struct TestServer {
    child: Option<Child>,
    exit: Option<ExitStatus>,
    /// The SIP address (UDP and TCP).
    pub sip: SocketAddr,
    /// The HTTP address (`/metrics`, `/healthz`, `/readyz`).
    pub http: SocketAddr,
    database_url: String,
    store: tokio::sync::OnceCell<Store>,
    // Dropped after the process: the database, then the directory.
    pg: Option<PgDatabase>,
    dir: tempfile::TempDir,
}

/// Why one start attempt failed.
enum StartError {
    /// The process could not bind its ports: try other ports.
    PortTaken(String),
    Fatal(String),
}

impl TestServer {
    /// Starts a server with the default grace and these trunks/routes.
    pub async fn start(routes: &str) -> TestServer {
        TestServer::start_with(ServerConfig {
            routes: routes.to_owned(),
            ..ServerConfig::default()
        })
        .await
    }

    /// Starts a server; panics (with its stderr) if it is not ready in time.
    pub async fn start_with(config: ServerConfig) -> TestServer {
        let mut dir = tempfile::Builder::new()
            .prefix("hibiki-it-")
            .tempdir()
            .expect("temp dir");
        let (database_url, pg) = match db_kind() {
            DbKind::Sqlite => {
                let path = dir.path().join("data").join("hibiki.db");
                (format!("sqlite://{}", path.display()), None)
            }
            DbKind::Postgres => {
                let db = PgDatabase::create().await;
                (pg_url_for(&db.name), Some(db))
            }
        };
        let mut last = String::new();
        for attempt in 1..=3 {
            let sip_port = free_port_udp_tcp("127.0.0.1");
            let http_port = free_tcp_port();
            let mut server = TestServer {
                child: None,
                exit: None,
                sip: SocketAddr::from(([127, 0, 0, 1], sip_port)),
                http: SocketAddr::from(([127, 0, 0, 1], http_port)),
                database_url: database_url.clone(),
                store: tokio::sync::OnceCell::new(),
                pg: None,
                dir,
            };
            match server.spawn_and_wait(&config).await {
                Ok(()) => {
                    server.pg = pg;
                    return server;
                }
                Err(StartError::PortTaken(log)) if attempt < 3 => {
                    eprintln!("hibiki could not bind its ports (attempt {attempt}); retrying");
                    last = log;
                    dir = server.take_dir();
                }
                Err(StartError::PortTaken(log)) | Err(StartError::Fatal(log)) => {
                    drop(server);
                    drop(pg);
                    panic!("hibiki serve did not become ready:\n{log}");
                }
            }
        }
        panic!("hibiki serve did not become ready after 3 attempts:\n{last}");
    }

    /// Moves the temp dir out of a failed attempt (leaving an empty one).
    fn take_dir(&mut self) -> tempfile::TempDir {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let placeholder = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, placeholder)
    }

    async fn spawn_and_wait(&mut self, config: &ServerConfig) -> Result<(), StartError> {
        let data_dir = self.dir.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let config_path = self.dir.path().join("hibiki.toml");
        let text = format!(
            "# written by tests/common/mod.rs\n\
             [sip]\nlisten = \"{sip}\"\n\n\
             [http]\nlisten = \"{http}\"\n\n\
             [data]\ndir = {data:?}\n\n\
             [database]\nurl = {db:?}\n\n\
             [shutdown]\ngrace_seconds = {grace}\n\n\
             {routes}\n",
            sip = self.sip,
            http = self.http,
            data = data_dir.display().to_string(),
            db = self.database_url,
            grace = config.grace_seconds,
            routes = config.routes.replace("{sip}", &self.sip.to_string()),
        );
        std::fs::write(&config_path, text).expect("write config");
        let stdout = std::fs::File::create(self.stdout_path()).expect("stdout file");
        let stderr = std::fs::File::create(self.stderr_path()).expect("stderr file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hibiki"));
        cmd.arg("serve")
            .arg("--config")
            .arg(&config_path)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        // The test's own HIBIKI_TEST_* settings (and any HIBIKI_* of the
        // caller's shell) would be read as config overrides: the server
        // gets only the file and `config.env`.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HIBIKI_") {
                cmd.env_remove(key);
            }
        }
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        // Plain log files: no colour escapes.
        cmd.env("NO_COLOR", "1");
        // HIBIKI_TEST_KERNEL_FORWARDING=on: every server with a media plane
        // relays bridged audio in the kernel (a run of the whole suite
        // through the eBPF forwarder; needs root).
        let plane = !config
            .env
            .iter()
            .any(|(k, v)| k == "HIBIKI_MEDIA_WORKERS" && v == "0");
        if plane && std::env::var("HIBIKI_TEST_KERNEL_FORWARDING").as_deref() == Ok("on") {
            cmd.env("HIBIKI_MEDIA_KERNEL_FORWARDING", "on");
        }
        for (k, v) in &config.env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .map_err(|e| StartError::Fatal(format!("cannot run hibiki: {e}")))?;
        self.child = Some(child);

        let client = http_client();
        let url = format!("http://{}/readyz", self.http);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.try_exit() {
                let log = self.logs();
                let lower = log.to_ascii_lowercase();
                if lower.contains("address already in use") || lower.contains("addrinuse") {
                    return Err(StartError::PortTaken(log));
                }
                return Err(StartError::Fatal(format!(
                    "hibiki exited early ({status}):\n{log}"
                )));
            }
            if let Ok(resp) = client.get(&url).send().await {
                if resp.status().as_u16() == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(StartError::Fatal(format!(
                    "/readyz not 200 within {READY_TIMEOUT:?}:\n{}",
                    self.logs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's temp directory (config, data, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn stdout_path(&self) -> PathBuf {
        self.dir.path().join("stdout.log")
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("stderr.log")
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    /// The tail of stdout and stderr, for failure messages.
    pub fn logs(&self) -> String {
        let out = std::fs::read_to_string(self.stdout_path()).unwrap_or_default();
        format!(
            "--- hibiki stdout (tail) ---\n{}\n--- hibiki stderr (tail) ---\n{}",
            tail(&out, 4000),
            tail(&self.stderr_text(), 8000)
        )
    }

    /// The process id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.exit = Some(status);
                }
            }
        }
        self.exit
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn terminate(&mut self) {
        if self.try_exit().is_none() {
            if let Some(pid) = self.pid() {
                signal(pid, "TERM");
            }
        }
    }

    /// Waits for the process to exit, at most `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A store on the server's database (one pool, shared by the test).
    pub async fn store(&self) -> Store {
        self.store
            .get_or_init(|| async {
                Store::connect(&self.database_url, 2)
                    .await
                    .unwrap_or_else(|e| panic!("test store: {e}"))
            })
            .await
            .clone()
    }

    /// Waits (bounded) until the call records asked for have ended, and
    /// returns them. `Count(n)`: all ended records once at least `n` have
    /// ended. `SipCallId(id)`: the records of that Call-ID once at least
    /// one exists and all have ended.
    pub async fn wait_for_calls(&self, wanted: Calls<'_>, timeout: Duration) -> Vec<CallRecord> {
        let store = self.store().await;
        let deadline = Instant::now() + timeout;
        loop {
            let (done, rows) = match wanted {
                Calls::Count(n) => {
                    let limit = u32::try_from(n + 100).unwrap_or(u32::MAX);
                    let rows = store.recent_calls(limit).await.expect("recent_calls");
                    let ended: Vec<CallRecord> =
                        rows.into_iter().filter(|r| r.outcome.is_some()).collect();
                    (ended.len() as u64 >= n, ended)
                }
                Calls::SipCallId(id) => {
                    let rows = store
                        .calls_by_sip_call_id(id)
                        .await
                        .expect("calls_by_sip_call_id");
                    let done = !rows.is_empty() && rows.iter().all(|r| r.outcome.is_some());
                    (done, rows)
                }
                Calls::Id(id) => {
                    let rows: Vec<CallRecord> =
                        store.call(id).await.expect("call").into_iter().collect();
                    let done = rows.iter().any(|r| r.outcome.is_some());
                    (done, rows)
                }
            };
            if done {
                return rows;
            }
            if Instant::now() > deadline {
                panic!(
                    "call records {wanted:?} not there within {timeout:?}; found {rows:#?}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The `/metrics` text.
    pub async fn metrics_text(&self) -> String {
        self.http_get("/metrics").await.1
    }

    /// GET a path on the HTTP listener: (status, body). Status 0 when the
    /// request failed (connection refused, timeout).
    pub async fn http_get(&self, path: &str) -> (u16, String) {
        let url = format!("http://{}{path}", self.http);
        match http_client().get(&url).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (status, resp.text().await.unwrap_or_default())
            }
            Err(_) => (0, String::new()),
        }
    }

    /// Runs a SIPp scenario (`tests/sipp/<scenario>.xml`) against the
    /// server and waits for it. Defaults, each overridden by passing the
    /// option in `args`: `-s 100`, `-m 1`, `-i 127.0.0.1`.
    pub async fn sipp(&self, scenario: &str, args: &[&str]) -> SippResult {
        self.sipp_spawn(scenario, args).finish().await
    }

    /// Starts a SIPp scenario in the background; [`SippRun::finish`] waits.
    pub fn sipp_spawn(&self, scenario: &str, args: &[&str]) -> SippRun {
        let ip = args
            .iter()
            .position(|a| *a == "-i")
            .and_then(|i| args.get(i + 1))
            .copied()
            .unwrap_or("127.0.0.1");
        let port = free_udp_port(ip);
        self.sipp_command(scenario, args, port, Some(self.sip))
    }

    /// Starts a SIPp scenario as a UAS listening on 127.0.0.1:`port` (the
    /// far end of a trunk), with no remote; `-m 1` unless given.
    pub fn sipp_uas(&self, scenario: &str, port: u16, args: &[&str]) -> SippRun {
        let mut all = vec!["-s", "hibiki"];
        all.extend_from_slice(args);
        self.sipp_command(scenario, &all, port, None)
    }

    fn sipp_command(
        &self,
        scenario: &str,
        args: &[&str],
        port: u16,
        remote: Option<SocketAddr>,
    ) -> SippRun {
        let has = |opt: &str| args.contains(&opt);
        let work = tempfile::Builder::new()
            .prefix("sipp-")
            .tempdir_in(self.dir.path())
            .expect("sipp dir");
        let error_file = work.path().join("errors.log");
        let message_file = work.path().join("messages.log");
        let scenario_path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sipp")
            .join(format!("{scenario}.xml"));
        assert!(
            scenario_path.exists(),
            "no scenario {}",
            scenario_path.display()
        );
        let mut cmd = tokio::process::Command::new("sipp");
        cmd.arg("-sf").arg(&scenario_path);
        if !has("-s") {
            cmd.args(["-s", "100"]);
        }
        if !has("-m") {
            cmd.args(["-m", "1"]);
        }
        if !has("-i") {
            cmd.args(["-i", "127.0.0.1"]);
        }
        cmd.args(["-p", &port.to_string()])
            .args(["-nostdin", "-timeout", "30s", "-timeout_error"])
            .arg("-trace_err")
            .arg("-error_file")
            .arg(&error_file)
            .arg("-trace_msg")
            .arg("-message_file")
            .arg(&message_file)
            .args(args);
        if let Some(remote) = remote {
            cmd.arg(remote.to_string());
        }
        cmd.current_dir(work.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot run sipp ({e}): install sip-tester, or run ./scripts/test.sh")
        });
        SippRun {
            child,
            work,
            error_file,
            message_file,
            stderr_path: self.stderr_path(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        signal(child.id(), "TERM");
        let deadline = Instant::now() + DROP_GRACE;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Sends a signal with `kill(1)` (no `unsafe` libc call needed).
fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .expect("http client")
}

fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Which call records [`TestServer::wait_for_calls`] waits for.
#[derive(Clone, Copy, Debug)]
pub enum Calls<'a> {
    Count(u64),
    SipCallId(&'a str),
    /// Our call id (the CDR's key).
    Id(&'a str),
}

// ----------------------------------------------------------------- sipp ---

/// A SIPp run in the background.
pub struct SippRun {
    child: tokio::process::Child,
    work: tempfile::TempDir,
    error_file: PathBuf,
    message_file: PathBuf,
    stderr_path: PathBuf,
}

impl SippRun {
    /// Waits for SIPp to finish (its own `-timeout 30s` bounds the run;
    /// this adds a hard 60 s bound).
    pub async fn finish(mut self) -> SippResult {
        let mut stdout = String::new();
        let mut stderr = String::new();
        let out = self.child.stdout.take();
        let err = self.child.stderr.take();
        let read_out = async {
            if let Some(mut o) = out {
                let _ = o.read_to_string(&mut stdout).await;
            }
        };
        let read_err = async {
            if let Some(mut e) = err {
                let _ = e.read_to_string(&mut stderr).await;
            }
        };
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(read_out, read_err);
            self.child.wait().await
        })
        .await;
        let code = match waited {
            Ok(Ok(status)) => status.code(),
            _ => {
                let _ = self.child.kill().await;
                None
            }
        };
        let result = SippResult {
            code,
            errors: std::fs::read_to_string(&self.error_file).unwrap_or_default(),
            messages: std::fs::read_to_string(&self.message_file).unwrap_or_default(),
            stdout,
            stderr,
            server_log: tail(
                &std::fs::read_to_string(&self.stderr_path).unwrap_or_default(),
                6000,
            )
            .to_owned(),
        };
        drop(self.work);
        result
    }
}

/// What a SIPp run left behind.
#[derive(Debug)]
pub struct SippResult {
    /// SIPp's exit code: 0 when every call succeeded, 1 when some failed;
    /// `None` when it was killed.
    pub code: Option<i32>,
    /// The `-error_file` (unexpected messages, timeouts).
    pub errors: String,
    /// The `-message_file` (every message sent and received).
    pub messages: String,
    pub stdout: String,
    pub stderr: String,
    /// The tail of the server's stderr when SIPp finished.
    pub server_log: String,
}

impl SippResult {
    /// Panics with everything useful unless every call succeeded.
    pub fn assert_ok(&self) {
        assert!(self.code == Some(0), "SIPp failed:\n{}", self.report());
    }

    /// A readable account of the run for failure messages.
    pub fn report(&self) -> String {
        format!(
            "exit code: {:?}\n--- sipp errors ---\n{}\n--- sipp stderr ---\n{}\n\
             --- sipp messages (tail) ---\n{}\n--- hibiki stderr (tail) ---\n{}",
            self.code,
            tail(&self.errors, 4000),
            tail(&self.stderr, 2000),
            tail(&self.messages, 8000),
            self.server_log
        )
    }

    /// The distinct Call-IDs SIPp sent, in order.
    pub fn call_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for line in self.messages.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim();
            if name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i") {
                let id = value.trim().to_owned();
                if !id.is_empty() && !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    /// The status codes of every response SIPp received, in order.
    pub fn received_codes(&self) -> Vec<u16> {
        let mut codes = Vec::new();
        let mut receiving = false;
        for line in self.messages.lines() {
            if line.contains("message received") {
                receiving = true;
                continue;
            }
            if line.contains("message sent") {
                receiving = false;
                continue;
            }
            if receiving {
                if let Some(code) = status_code(line.as_bytes()) {
                    codes.push(code);
                    receiving = false;
                }
            }
        }
        codes
    }
}

// ---------------------------------------------------------- raw peers ---

/// A `200 OK` answering `request` (its Via, From, To, Call-ID and CSeq
/// copied), for a test peer that must answer Hibiki's BYE.
pub fn ok_for(request: &str) -> String {
    let mut ok = String::from("SIP/2.0 200 OK\r\n");
    for l in request.lines().filter(|l| {
        ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
            .iter()
            .any(|h| l.starts_with(h))
    }) {
        ok.push_str(l);
        ok.push_str("\r\n");
    }
    ok.push_str("Content-Length: 0\r\n\r\n");
    ok
}

/// The status code of a SIP response (`SIP/2.0 NNN ...`), `None` for
/// anything else.
pub fn status_code(msg: &[u8]) -> Option<u16> {
    let rest = msg.strip_prefix(b"SIP/2.0 ")?;
    let digits = rest.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The first value of a header (full or compact name, case-insensitive).
pub fn header(msg: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(msg);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// A fresh random token for branches, tags and Call-IDs.
pub fn token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A well-formed OPTIONS from `local` to `server` over `transport`.
pub fn options_request(transport: &str, local: SocketAddr, server: SocketAddr) -> Vec<u8> {
    let t = token();
    format!(
        "OPTIONS sip:{server} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK{t};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{local}>;tag={t}\r\n\
         To: <sip:{server}>\r\n\
         Call-ID: probe-{t}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Accept: application/sdp\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A UDP socket on 127.0.0.1 that talks to the server.
pub struct UdpPeer {
    socket: tokio::net::UdpSocket,
    server: SocketAddr,
}

impl UdpPeer {
    pub async fn bind(server: SocketAddr) -> UdpPeer {
        UdpPeer::bind_on("127.0.0.1", server).await
    }

    pub async fn bind_on(ip: &str, server: SocketAddr) -> UdpPeer {
        let socket = tokio::net::UdpSocket::bind((ip, 0))
            .await
            .expect("bind UDP");
        UdpPeer { socket, server }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("local addr")
    }

    pub async fn send(&self, bytes: &[u8]) {
        self.socket
            .send_to(bytes, self.server)
            .await
            .expect("send UDP");
    }

    /// The next datagram within `timeout`.
    pub async fn recv(&self, timeout: Duration) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 65_536];
        match tokio::time::timeout(timeout, self.socket.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => {
                buf.truncate(n);
                Some(buf)
            }
            _ => None,
        }
    }

    /// Every response up to and including the first final one (status
    /// >= 200), or what came before `timeout`.
    pub async fn recv_until_final(&self, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(msg) = self.recv(left).await else {
                return got;
            };
            let fin = status_code(&msg).is_some_and(|c| c >= 200);
            got.push(msg);
            if fin {
                return got;
            }
        }
    }
}

/// A TCP connection from 127.0.0.1 to the server, reading whole SIP
/// messages (framed by Content-Length).
pub struct TcpPeer {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl TcpPeer {
    pub async fn connect(server: SocketAddr) -> TcpPeer {
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(server),
        )
        .await
        .expect("TCP connect timed out")
        .expect("TCP connect");
        TcpPeer {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local addr")
    }

    /// Writes bytes; `false` when the server has closed the connection.
    pub async fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// The next whole SIP message within `timeout` (`None` on timeout or
    /// when the connection closes first).
    pub async fn recv(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(msg) = take_message(&mut self.buf) {
                return Some(msg);
            }
            let mut chunk = [0u8; 8192];
            let read = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await;
            match read {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.buf.extend_from_slice(chunk.get(..n)?),
            }
        }
    }

    /// Every response up to and including the first final one.
    pub async fn recv_until_final(&mut self, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(msg) = self.recv(left).await else {
                return got;
            };
            let fin = status_code(&msg).is_some_and(|c| c >= 200);
            got.push(msg);
            if fin {
                return got;
            }
        }
    }
}

/// Cuts one whole SIP message off the front of `buf` (skipping keep-alive
/// CRLFs), if it is all there.
fn take_message(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    while buf.starts_with(b"\r\n") {
        buf.drain(..2);
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(buf.get(..end)?).to_string();
    let len = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            let n = n.trim();
            (n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("l"))
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    if buf.len() < end + len {
        return None;
    }
    Some(buf.drain(..end + len).collect())
}

/// One request over UDP, returning the first response within 2 s.
pub async fn udp_exchange(server: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let peer = UdpPeer::bind(server).await;
    peer.send(bytes).await;
    peer.recv(Duration::from_secs(2)).await
}

/// One request over a fresh TCP connection, returning the first response
/// within 2 s.
pub async fn tcp_exchange(server: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut peer = TcpPeer::connect(server).await;
    if !peer.send(bytes).await {
        return None;
    }
    peer.recv(Duration::from_secs(2)).await
}

impl TestServer {
    /// [`udp_exchange`] against this server.
    pub async fn udp_exchange(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        udp_exchange(self.sip, bytes).await
    }

    /// [`tcp_exchange`] against this server.
    pub async fn tcp_exchange(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        tcp_exchange(self.sip, bytes).await
    }

    /// Asserts that an OPTIONS over UDP and one over TCP both get 200.
    pub async fn assert_answers_options(&self, context: &str) {
        let udp = UdpPeer::bind(self.sip).await;
        udp.send(&options_request("UDP", udp.local_addr(), self.sip))
            .await;
        let got = udp.recv_until_final(Duration::from_secs(3)).await;
        let code = got.last().and_then(|m| status_code(m));
        assert_eq!(
            code,
            Some(200),
            "UDP OPTIONS not answered 200 {context}\n{}",
            self.logs()
        );
        let mut tcp = TcpPeer::connect(self.sip).await;
        let local = tcp.local_addr();
        assert!(tcp.send(&options_request("TCP", local, self.sip)).await);
        let got = tcp.recv_until_final(Duration::from_secs(3)).await;
        let code = got.last().and_then(|m| status_code(m));
        assert_eq!(
            code,
            Some(200),
            "TCP OPTIONS not answered 200 {context}\n{}",
            self.logs()
        );
    }
}

// ---------------------------------------------------------------- tools ---

/// Whether the external `tool` can be run (`tool args…` starts; its exit
/// status does not matter). When it cannot: panics under
/// `HIBIKI_TEST_REQUIRE_TOOLS=1` (what `./scripts/test.sh` and CI set),
/// otherwise prints a loud `SKIPPED` line and returns `false`.
pub fn have_tool(tool: &str, args: &[&str], package: &str) -> bool {
    let ran = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match ran {
        Ok(_) => true,
        Err(e) => {
            skip_or_fail(&format!(
                "{tool} cannot be run ({e}): apt-get install {package}"
            ));
            false
        }
    }
}

/// A test that cannot run here: fails under `HIBIKI_TEST_REQUIRE_TOOLS=1`,
/// else says so loudly on stderr.
pub fn skip_or_fail(why: &str) {
    assert!(
        std::env::var("HIBIKI_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{why} (and HIBIKI_TEST_REQUIRE_TOOLS=1)"
    );
    eprintln!("\n!!! SKIPPED: {why}\n");
}

// -------------------------------------------------------------- metrics ---

/// The value of one sample in Prometheus text: `name` with exactly these
/// labels (in any order; no labels for an unlabelled metric).
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (n, lbl) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if n != name {
                return None;
            }
            let mut found: Vec<(String, String)> = lbl
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
                })
                .collect();
            let mut want: Vec<(String, String)> = labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            found.sort();
            want.sort();
            (found == want).then(|| value.trim().parse().ok()).flatten()
        })
}

#[cfg(test)]
mod harness_tests {
    use super::*;

    #[test]
    fn metric_finds_labelled_and_plain_samples() {
        let text = "# HELP x y\nhibiki_calls_active 2\n\
                    hibiki_calls_total{outcome=\"answered\"} 10\n\
                    hibiki_calls_total{outcome=\"busy\"} 1\n";
        assert_eq!(metric(text, "hibiki_calls_active", &[]), Some(2.0));
        assert_eq!(
            metric(text, "hibiki_calls_total", &[("outcome", "busy")]),
            Some(1.0)
        );
        assert_eq!(
            metric(text, "hibiki_calls_total", &[("outcome", "failed")]),
            None
        );
    }

    #[test]
    fn take_message_frames_by_content_length() {
        let mut buf = b"\r\nSIP/2.0 200 OK\r\nl: 3\r\n\r\nabcSIP/2.0 100 x\r\n".to_vec();
        let first = take_message(&mut buf).unwrap();
        assert!(first.ends_with(b"abc"));
        assert_eq!(status_code(&first), Some(200));
        assert!(take_message(&mut buf).is_none(), "second is incomplete");
    }

    #[test]
    fn redact_hides_password() {
        assert_eq!(
            redact("postgres://u:secret@127.0.0.1:5432/db"),
            "postgres://u@127.0.0.1:5432/db"
        );
    }
}
