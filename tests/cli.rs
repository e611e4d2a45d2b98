//! The `hibiki` command line as an operator uses it: `config check` refuses
//! a bad file naming the file, line, key and reason; overrides from the
//! environment are checked too; secrets never reach the output; `migrate`
//! creates the embedded SQLite database.

use std::process::Command;

fn hibiki() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hibiki"));
    // Start from a clean environment so a developer's HIBIKI_* cannot leak in.
    for (k, _) in std::env::vars() {
        if k.starts_with("HIBIKI_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn write(dir: &tempfile::TempDir, name: &str, body: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn config_check_accepts_the_shipped_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/hibiki.example.toml");
    let out = hibiki()
        .args(["config", "check", example])
        .env("HIBIKI_SECRET_CARRIER", "not-a-real-password")
        .env("HIBIKI_SECRET_PBX", "not-a-real-password-either")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn config_check_names_file_line_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "bad.toml",
        "[http]\nlisten = \"127.0.0.1:8080\"\n\n[sip]\nlisten = \"not an address\"\n",
    );
    let out = hibiki()
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a bad address must be refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:5"),
        "file and line missing: {stderr}"
    );
    assert!(stderr.contains("sip.listen"), "key missing: {stderr}");
}

#[test]
fn config_check_refuses_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "typo.toml", "[sip]\nlisen = \"127.0.0.1:5060\"\n");
    let out = hibiki()
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lisen"), "{stderr}");
    assert!(stderr.contains("typo.toml:2"), "{stderr}");
}

#[test]
fn config_check_reports_a_bad_environment_override() {
    let out = hibiki()
        .args(["config", "check"])
        .env("HIBIKI_SIP_LISTEN", "nowhere")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HIBIKI_SIP_LISTEN"), "{stderr}");
}

#[test]
fn config_check_print_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "secret.toml",
        "[[trunks]]\nname = \"carrier\"\n[trunks.inbound]\nusername = \"pbx\"\npassword_env = \"TRUNK_PW\"\n",
    );
    let out = hibiki()
        .args(["config", "check", "--print"])
        .arg(&path)
        .env("TRUNK_PW", "hunter2-very-secret")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("carrier"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "secret printed: {stdout}");
    assert!(!stderr.contains("hunter2"), "secret printed: {stderr}");
}

#[test]
fn migrate_creates_the_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = hibiki()
        .arg("migrate")
        .env("HIBIKI_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("hibiki.db").exists());
}
