//! The tool calling itself (`run --loop`) on 127.0.0.1: every call is
//! set up and torn down, and every packet sent on one side arrives on the
//! other. Nothing here is timed beyond the tool's own bounds.

use std::net::UdpSocket;
use std::process::Command;

fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

fn figure(json: &str, key: &str) -> String {
    let needle = format!("\"{key}\": ");
    let line = json
        .lines()
        .find(|l| l.trim_start().starts_with(&needle))
        .unwrap_or_else(|| panic!("no {key} in {json}"));
    line.trim_start()[needle.len()..]
        .trim_end_matches(',')
        .trim_matches('"')
        .to_owned()
}

#[test]
fn loop_run_sets_up_every_call_and_loses_nothing() {
    let json_path = std::env::temp_dir().join(format!("rtpload-loop-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_hibiki-rtpload"))
        .args([
            "run",
            "--loop",
            "--calls",
            "6",
            "--rate",
            "100",
            "--duration",
            "1",
        ])
        .args(["--uas-listen", &format!("127.0.0.1:{}", free_udp_port())])
        .args(["--uas-codec", "pcma", "--teardown-timeout", "10"])
        .arg("--json")
        .arg(&json_path)
        .output()
        .expect("runs");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read_to_string(&json_path).expect("json written");
    let _ = std::fs::remove_file(&json_path);
    assert_eq!(figure(&json, "calls_established"), "6", "{table}");
    assert_eq!(figure(&json, "uas_confirmed"), "6", "{table}");
    assert_eq!(figure(&json, "calls_closed"), "6", "{table}");
    assert_eq!(figure(&json, "uas_closed"), "6", "{table}");
    assert_eq!(figure(&json, "calls_unclosed"), "0", "{table}");
    assert_eq!(figure(&json, "cfg_codecs"), "PCMU / PCMA");
    for dir in ["a2b", "b2a"] {
        let sent: u64 = figure(&json, &format!("{dir}_sent")).parse().expect("n");
        let received: u64 = figure(&json, &format!("{dir}_received"))
            .parse()
            .expect("n");
        // At least the steady second at 50 packets/s per stream.
        assert!(sent >= 6 * 50, "{dir}: {sent} sent\n{table}");
        assert_eq!(received, sent, "{dir}\n{table}");
        assert_eq!(figure(&json, &format!("{dir}_seq_lost")), "0");
        assert_eq!(figure(&json, &format!("{dir}_duplicates")), "0");
        assert_eq!(figure(&json, &format!("{dir}_streams")), "6");
    }
    assert_eq!(figure(&json, "loss_ok"), "true");
    // The whole machine's CPU over the window: at least the tool's own.
    let machine: f64 = figure(&json, "machine_busy_cores").parse().expect("cores");
    let tool_pct: f64 = figure(&json, "tool_cpu_pct").parse().expect("pct");
    let machine_pct: f64 = figure(&json, "machine_cpu_pct").parse().expect("pct");
    assert!(machine > 0.0, "{table}");
    assert!((machine * 100.0 - machine_pct).abs() < 0.2, "{table}");
    assert!(machine_pct + 2.0 >= tool_pct, "{table}");
    let per_packet: f64 = figure(&json, "machine_us_per_packet").parse().expect("µs");
    assert!(per_packet > 0.0, "{table}");
}

#[test]
fn refuses_addresses_off_loopback() {
    let out = Command::new(env!("CARGO_BIN_EXE_hibiki-rtpload"))
        .args(["run", "--target", "10.1.2.3:5060", "--calls", "1"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--target must be on 127.0.0.1"), "{err}");
}

#[test]
fn ivr_key_scripts_are_checked_before_calling() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hibiki-rtpload"))
            .args(["run", "--calls", "1"])
            .args(args)
            .output()
            .expect("runs")
    };
    let out = run(&["--ivr", "--dtmf", "1:1,1.05:2"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--dtmf: keys at 1.00 s and 1.06 s overlap"),
        "{err}"
    );
    let out = run(&["--ivr", "--dtmf", "2:1x"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'x' is not a DTMF key"), "{err}");
    // Keys need IVR mode.
    let out = run(&["--dtmf", "2:1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--ivr"), "{err}");
}
