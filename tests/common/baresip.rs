//! A real softphone for the tests: baresip (Debian's package, 1.0),
//! headless, driven over its `ctrl_tcp` module (netstring-framed JSON on
//! 127.0.0.1), which also reports the call's events.
//!
//! [`Baresip::start`] writes a config dir into a temp dir:
//! - SIP on 127.0.0.1 at a free port (UDP and TCP; baresip also listens
//!   for TLS on the next port, so that one must be free too), and one
//!   account, `sip:baresip@127.0.0.1`, that never registers;
//! - its microphone is a WAV file (`aufile`, 8 kHz mono 16-bit) and its
//!   loudspeaker a device nobody reads (`aubridge`); the `sndfile` filter
//!   writes what it sends (before the encoder) and what it receives (after
//!   the decoder) to WAV files: [`Baresip::dump`];
//! - G.711 only, in the order the test asks; telephone-events (RFC 4733)
//!   are always offered, and `sndcode` sends a digit as one;
//! - its default jitter buffer (5 to 10 frames) and no RTCP multiplexing.
//!
//! What cannot be kept on 127.0.0.1: baresip binds its RTP sockets to the
//! wildcard address (hard-coded in its `stream.c`: "we listen on all
//! interfaces"), and its DNS resolver has a client socket on the wildcard
//! too. Both live only while this baresip runs; the RTP ports are held to
//! `20000-29999`, below both the kernel's ephemeral range and the ports the
//! test servers give their media.
//!
//! The process is killed when the [`Baresip`] is dropped, whatever happened;
//! its log is printed when a test panics.

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{free_port_udp_tcp, skip_or_fail, tail};

/// The modules the config loads; all must be installed.
const MODULES: &[&str] = &[
    "g711", "aufile", "aubridge", "sndfile", "ctrl_tcp", "account", "menu",
];
/// Where distributions put baresip's modules.
const MODULE_DIRS: &[&str] = &[
    "/usr/lib/baresip/modules",
    "/usr/lib64/baresip/modules",
    "/usr/local/lib/baresip/modules",
];
/// How long baresip gets to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a `ctrl_tcp` command gets to be answered.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// What baresip prints once its modules, accounts and UI are up.
const READY_LINE: &str = "baresip is ready.";

/// What a test chooses about its softphone.
#[derive(Clone, Debug)]
pub struct BaresipConfig {
    /// The WAV it sends as its microphone: 8 kHz, mono, 16-bit.
    pub source: PathBuf,
    /// The codecs it offers, in order: `PCMU/8000/1`, `PCMA/8000/1`.
    pub codecs: Vec<String>,
}

/// Which of the `sndfile` dumps.
#[derive(Clone, Copy, Debug)]
pub enum Dump {
    /// What baresip sent, before its encoder.
    Sent,
    /// What baresip received, after its jitter buffer and decoder.
    Received,
}

/// A running baresip, and its temp dir (config, log, dumps).
pub struct Baresip {
    child: Option<Child>,
    control: Control,
    /// Its SIP address (UDP and TCP).
    pub sip: SocketAddr,
    log_path: PathBuf,
    dumps: PathBuf,
    dir: tempfile::TempDir,
}

impl Baresip {
    /// The directory holding every module the config loads, if any.
    pub fn module_dir() -> Option<PathBuf> {
        MODULE_DIRS.iter().map(PathBuf::from).find(|dir| {
            MODULES
                .iter()
                .all(|m| dir.join(format!("{m}.so")).is_file())
        })
    }

    /// Whether baresip and its modules are installed; when not, fails
    /// under `HIBIKI_TEST_REQUIRE_TOOLS=1` and otherwise skips loudly.
    pub fn available() -> bool {
        if let Err(e) = Command::new("baresip")
            .arg("-h")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            skip_or_fail(&format!(
                "baresip cannot be run ({e}): apt-get install baresip"
            ));
            return false;
        }
        if Baresip::module_dir().is_none() {
            skip_or_fail(&format!(
                "baresip's modules {MODULES:?} are not all in any of {MODULE_DIRS:?}: \
                 apt-get install baresip"
            ));
            return false;
        }
        true
    }

    /// Starts baresip and connects to its control socket; panics (with its
    /// log) if it is not ready in time. A failed attempt (a port taken
    /// meanwhile) is retried with other ports, twice.
    pub async fn start(config: &BaresipConfig) -> Baresip {
        let modules = Baresip::module_dir().expect("Baresip::available() first");
        let mut last = String::new();
        for attempt in 1..=3 {
            let dir = tempfile::Builder::new()
                .prefix("baresip-")
                .tempdir()
                .expect("temp dir");
            match Baresip::spawn(config, &modules, dir).await {
                Ok(b) => return b,
                Err(log) => {
                    eprintln!("baresip did not start (attempt {attempt}); retrying");
                    last = log;
                }
            }
        }
        panic!("baresip did not become ready after 3 attempts:\n{last}");
    }

    /// One start attempt; `Err(log)` when it did not become ready.
    async fn spawn(
        config: &BaresipConfig,
        modules: &Path,
        dir: tempfile::TempDir,
    ) -> Result<Baresip, String> {
        let sip_port = free_sip_port();
        let ctrl_port = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .expect("bind TCP :0")
            .port();
        let dumps = dir.path().join("dumps");
        std::fs::create_dir_all(&dumps).expect("dumps dir");
        for path in [config.source.as_path(), modules, &dumps] {
            assert!(
                !path.to_string_lossy().contains(char::is_whitespace),
                "baresip's config cannot hold a path with spaces: {}",
                path.display()
            );
        }
        let config_text = format!(
            "# written by tests/common/baresip.rs\n\
             poll_method\tepoll\n\
             sip_listen\t127.0.0.1:{sip_port}\n\
             net_interface\t127.0.0.1\n\
             call_local_timeout\t120\n\
             call_max_calls\t1\n\
             audio_source\taufile,{source}\n\
             audio_player\taubridge,hibiki-test\n\
             audio_alert\taubridge,hibiki-test\n\
             ausrc_srate\t8000\n\
             auplay_srate\t8000\n\
             ausrc_channels\t1\n\
             auplay_channels\t1\n\
             audio_buffer\t20-160\n\
             rtp_ports\t20000-29999\n\
             rtcp_mux\tno\n\
             jitter_buffer_delay\t5-10\n\
             statmode_default\toff\n\
             module_path\t{modules}\n\
             module\tg711.so\n\
             module\taufile.so\n\
             module\taubridge.so\n\
             module\tsndfile.so\n\
             module\tctrl_tcp.so\n\
             module_app\taccount.so\n\
             module_app\tmenu.so\n\
             snd_path\t{dumps}\n\
             ctrl_tcp_listen\t127.0.0.1:{ctrl_port}\n",
            source = config.source.display(),
            modules = modules.display(),
            dumps = dumps.display(),
        );
        std::fs::write(dir.path().join("config"), config_text).expect("write config");
        std::fs::write(
            dir.path().join("accounts"),
            format!(
                "<sip:baresip@127.0.0.1>;regint=0;answermode=manual;audio_codecs={}\n",
                config.codecs.join(",")
            ),
        )
        .expect("write accounts");
        let log_path = dir.path().join("baresip.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let log_err = log.try_clone().expect("log file");
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot run baresip: {e}"))?;
        // From here on the guard kills the process on every path.
        let mut guard = ProcessGuard(Some(child));

        let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        let deadline = Instant::now() + READY_TIMEOUT;
        while !read_log().contains(READY_LINE) {
            if let Some(Ok(Some(status))) = guard.0.as_mut().map(Child::try_wait) {
                return Err(format!("baresip exited early ({status}):\n{}", read_log()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "baresip not ready within {READY_TIMEOUT:?}:\n{}",
                    read_log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let control = match Control::connect(SocketAddr::from(([127, 0, 0, 1], ctrl_port))).await {
            Ok(c) => c,
            Err(e) => {
                return Err(format!(
                    "cannot reach baresip's ctrl_tcp on port {ctrl_port}: {e}\n{}",
                    read_log()
                ))
            }
        };
        Ok(Baresip {
            child: guard.0.take(),
            control,
            sip: SocketAddr::from(([127, 0, 0, 1], sip_port)),
            log_path,
            dumps,
            dir,
        })
    }

    /// Everything baresip printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Runs one `ctrl_tcp` command (`dial`, `sndcode`, `quit`…) and
    /// returns its response; panics (with the log) if it is refused or
    /// not answered in time.
    pub async fn command(&mut self, command: &str, params: &str) -> Value {
        match self.control.command(command, params).await {
            Ok(response) if response["ok"] == json!(true) => response,
            Ok(response) => panic!(
                "baresip refused {command} {params:?}: {response}\n{}",
                tail(&self.log(), 6000)
            ),
            Err(e) => panic!(
                "baresip: {command} {params:?}: {e}\n{}",
                tail(&self.log(), 6000)
            ),
        }
    }

    /// Calls `uri`.
    pub async fn dial(&mut self, uri: &str) {
        self.command("dial", uri).await;
    }

    /// Sends one DTMF digit on the current call (an RFC 4733 event when
    /// telephone-event was negotiated, else SIP INFO).
    pub async fn send_digit(&mut self, digit: char) {
        self.command("sndcode", &digit.to_string()).await;
    }

    /// The first event of type `kind` (`CALL_ESTABLISHED`, `CALL_CLOSED`…)
    /// not yet taken (others are kept for later); panics (with the log) if none comes in `timeout`.
    pub async fn wait_event(&mut self, kind: &str, timeout: Duration) -> Value {
        match self.control.event(kind, timeout).await {
            Ok(event) => event,
            Err(e) => panic!(
                "baresip: no {kind} event within {timeout:?}: {e}\n{}",
                tail(&self.log(), 8000)
            ),
        }
    }

    /// Asks baresip to quit (closing its dump files) and waits for it,
    /// at most `timeout`; kills it after that.
    pub async fn quit(&mut self, timeout: Duration) {
        // The answer may never come: baresip may close the socket first.
        let _ = self.control.send("quit", "").await;
        let deadline = Instant::now() + timeout;
        while let Some(child) = self.child.as_mut() {
            if matches!(child.try_wait(), Ok(Some(_))) {
                self.child = None;
                return;
            }
            if Instant::now() > deadline {
                eprintln!("baresip did not quit within {timeout:?}: killing it");
                drop(ProcessGuard(self.child.take()));
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The path of one of the `sndfile` dumps of the (one) call made.
    pub fn dump(&self, which: Dump) -> PathBuf {
        let suffix = match which {
            Dump::Sent => "-enc.wav",
            Dump::Received => "-dec.wav",
        };
        let found: Vec<PathBuf> = std::fs::read_dir(&self.dumps)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().ends_with(suffix))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            found.len(),
            1,
            "one *{suffix} in {}: {found:?}",
            self.dumps.display()
        );
        found.into_iter().next().unwrap_or_default()
    }

    /// The temp dir holding the config, log and dumps.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- baresip log (tail) ---\n{}", tail(&self.log(), 8000));
        }
        drop(ProcessGuard(self.child.take()));
    }
}

/// Kills and reaps a child process when dropped.
struct ProcessGuard(Option<Child>);

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            if !matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// A SIP port for baresip: free for UDP and TCP, with the next port free
/// for TCP (its TLS listener).
fn free_sip_port() -> u16 {
    for _ in 0..100 {
        let port = free_port_udp_tcp("127.0.0.1");
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair for baresip's SIP on 127.0.0.1");
}

/// A `ctrl_tcp` connection: commands out, responses and events in, each a
/// netstring (`<length>:<json>,`).
struct Control {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Events read while waiting for something else.
    events: VecDeque<Value>,
    next_token: u64,
}

impl Control {
    async fn connect(addr: SocketAddr) -> std::io::Result<Control> {
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        Ok(Control {
            stream,
            buf: Vec::new(),
            events: VecDeque::new(),
            next_token: 1,
        })
    }

    /// Sends a command; returns its token.
    async fn send(&mut self, command: &str, params: &str) -> std::io::Result<String> {
        let token = format!("t{}", self.next_token);
        self.next_token += 1;
        let body = json!({ "command": command, "params": params, "token": token }).to_string();
        let framed = format!("{}:{body},", body.len());
        self.stream.write_all(framed.as_bytes()).await?;
        Ok(token)
    }

    /// Sends a command and waits for its response.
    async fn command(&mut self, command: &str, params: &str) -> Result<Value, String> {
        let token = self
            .send(command, params)
            .await
            .map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + COMMAND_TIMEOUT;
        loop {
            let msg = self.next(deadline).await?;
            if msg["response"] == json!(true) && msg["token"] == json!(token) {
                return Ok(msg);
            }
            if msg["event"] == json!(true) {
                self.events.push_back(msg);
            }
        }
    }

    /// The next event of type `kind`, within `timeout`.
    async fn event(&mut self, kind: &str, timeout: Duration) -> Result<Value, String> {
        if let Some(i) = self.events.iter().position(|e| e["type"] == json!(kind)) {
            return Ok(self.events.remove(i).unwrap_or_default());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = self.next(deadline).await?;
            if msg["event"] != json!(true) {
                continue;
            }
            if msg["type"] == json!(kind) {
                return Ok(msg);
            }
            self.events.push_back(msg);
        }
    }

    /// The next message, by `deadline`.
    async fn next(&mut self, deadline: tokio::time::Instant) -> Result<Value, String> {
        loop {
            if let Some(msg) = take_netstring(&mut self.buf)? {
                return serde_json::from_slice(&msg)
                    .map_err(|e| format!("bad JSON from ctrl_tcp ({e}): {msg:?}"));
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Err("timed out".into()),
                Ok(Ok(0)) => return Err("ctrl_tcp connection closed".into()),
                Ok(Err(e)) => return Err(format!("ctrl_tcp read: {e}")),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// Cuts one whole netstring off the front of `buf`, if it is all there.
fn take_netstring(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, String> {
    let Some(colon) = buf.iter().position(|&b| b == b':') else {
        return Ok(None);
    };
    let len: usize = std::str::from_utf8(&buf[..colon])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad netstring length: {:?}", &buf[..colon]))?;
    let end = colon + 1 + len;
    if buf.len() < end + 1 {
        return Ok(None);
    }
    if buf[end] != b',' {
        return Err(format!("netstring without its ',': {buf:?}"));
    }
    let msg = buf[colon + 1..end].to_vec();
    buf.drain(..=end);
    Ok(Some(msg))
}

#[cfg(test)]
mod tests {
    use super::take_netstring;

    #[test]
    fn netstrings_are_framed_by_their_length() {
        let mut buf = b"2:{},5:[1,2]".to_vec();
        assert_eq!(take_netstring(&mut buf).unwrap(), Some(b"{}".to_vec()));
        assert_eq!(take_netstring(&mut buf).unwrap(), None, "incomplete");
        buf.push(b',');
        assert_eq!(take_netstring(&mut buf).unwrap(), Some(b"[1,2]".to_vec()));
        assert!(buf.is_empty());
        assert!(take_netstring(&mut b"x:{}".to_vec()).is_err());
    }
}
