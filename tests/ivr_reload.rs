//! The IVR flows of a real server, in a temp flows folder: the server
//! refuses to start on an invalid flow or a route naming a missing one
//! (file:line:reason on stderr, non-zero exit); `GET /ivr/flows` and
//! `POST /admin/ivr/reload` with their roles; a broken file reloaded by
//! SIGHUP keeps the old version and shows the problem, the fix makes the
//! next version; a file change in the flows or the prompts folder reloads
//! by itself. Waits poll the API with a generous bound (no fixed sleeps).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::api::{add_user, hibiki, Api};
use common::{ServerConfig, TestServer};
use serde_json::{json, Value};

const ADMIN_PW: &str = "test-only-admin-pw";
const SUPERVISOR_PW: &str = "test-only-supervisor-pw";
const AGENT_PW: &str = "test-only-agent-pw";

/// How long a reload may take to show (a busy 2-core machine).
const RELOAD_BOUND: Duration = Duration::from_secs(30);

const SHIPPED_PROMPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ivr-flows/prompts");

/// A flow playing `prompt`, then hanging up. Line 6 is the `prompts` line.
fn flow(prompt: &str) -> String {
    format!(
        "[flow]\nstart = \"hello\"\n\n[steps.hello]\ntype = \"play\"\n\
         prompts = [\"{prompt}\"]\nnext = \"bye\"\n\n[steps.bye]\ntype = \"hangup\"\n"
    )
}

/// A temp folder with `flows/` (the given files) and `prompts/en/` (a
/// copy of the shipped English prompts, so tests may add to it).
struct Flows {
    dir: tempfile::TempDir,
}

impl Flows {
    fn new(files: &[(&str, String)]) -> Flows {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("flows")).unwrap();
        let en = dir.path().join("prompts").join("en");
        std::fs::create_dir_all(&en).unwrap();
        for entry in std::fs::read_dir(Path::new(SHIPPED_PROMPTS).join("en")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "wav") {
                std::fs::copy(&path, en.join(path.file_name().unwrap())).unwrap();
            }
        }
        let flows = Flows { dir };
        for (name, text) in files {
            flows.write(name, text);
        }
        flows
    }

    fn flows_dir(&self) -> PathBuf {
        self.dir.path().join("flows")
    }

    fn prompts_dir(&self) -> PathBuf {
        self.dir.path().join("prompts")
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.flows_dir().join(name), text).unwrap();
    }

    /// The config tables pointing the server here, with `routes` after.
    fn config(&self, watch: bool, routes: &str) -> String {
        format!(
            "[ivr]\nflows_dir = {:?}\nwatch = {watch}\n\n[media]\nprompts_dir = {:?}\n\n\
             [[trunks]]\nname = \"carrier\"\n[trunks.inbound]\nsources = [\"127.0.0.1/32\"]\n\n{routes}",
            self.flows_dir().display().to_string(),
            self.prompts_dir().display().to_string(),
        )
    }
}

const MAIN_ROUTE: &str = "[[routes]]\nnumber = \"100\"\naction = \"ivr\"\nflow = \"main\"\n";

async fn start(flows: &Flows, watch: bool) -> (TestServer, Api, String) {
    let server = TestServer::start_with(ServerConfig {
        routes: flows.config(watch, MAIN_ROUTE),
        ..ServerConfig::default()
    })
    .await;
    add_user(&server, "admin", "admin", ADMIN_PW);
    let api = Api::new(&server);
    let admin = api.token("admin", ADMIN_PW).await;
    (server, api, admin)
}

/// Polls `GET /ivr/flows` until `done` holds; panics after [`RELOAD_BOUND`].
async fn wait_for_flows(
    api: &Api,
    token: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + RELOAD_BOUND;
    loop {
        let a = api.get("/ivr/flows", Some(token)).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        if done(&a.body) {
            return a.body;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen within {RELOAD_BOUND:?}; last: {:#}",
            a.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn names(body: &Value) -> Vec<String> {
    body["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect()
}

fn sighup(server: &TestServer) {
    let pid = server.pid().expect("running");
    let status = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// `hibiki serve` with `config`, expected to exit by itself: (success, stderr).
fn serve_expecting_exit(dir: &Path, config: &str) -> (bool, String) {
    let path = dir.join("hibiki.toml");
    let data = dir.join("data");
    let text = format!(
        "[data]\ndir = {:?}\n[sip]\nlisten = \"127.0.0.1:{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n{config}",
        data.display().to_string(),
        common::free_port_udp_tcp("127.0.0.1"),
    );
    std::fs::write(&path, text).unwrap();
    let mut child = hibiki()
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hibiki serve started although it should have refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_server_refuses_to_start_on_an_invalid_flow() {
    let flows = Flows::new(&[
        ("main.toml", flow("welcome")),
        ("broken.toml", flow("no-such-prompt")),
    ]);
    let (ok, stderr) = serve_expecting_exit(flows.dir.path(), &flows.config(false, MAIN_ROUTE));
    assert!(!ok, "{stderr}");
    let file = flows.flows_dir().join("broken.toml");
    assert!(
        stderr.contains(&format!(
            "{}:6: step `hello`: missing prompt `no-such-prompt`",
            file.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("not starting"), "{stderr}");
    assert!(
        !flows.dir.path().join("data").join("hibiki.db").exists(),
        "flows are checked before anything else starts"
    );
}

#[test]
fn the_server_refuses_to_start_when_a_route_names_a_missing_flow() {
    let flows = Flows::new(&[("main.toml", flow("welcome"))]);
    let routes =
        format!("{MAIN_ROUTE}\n[[routes]]\nnumber = \"200\"\naction = \"ivr\"\nflow = \"sales\"\n");
    let (ok, stderr) = serve_expecting_exit(flows.dir.path(), &flows.config(false, &routes));
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("routes[1] (number `200`) runs flow `sales`, but"),
        "{stderr}"
    );
    assert!(
        stderr.contains("has no sales.toml (flows there: main)"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_flows_api_shows_the_set_and_admins_reload_it() {
    let flows = Flows::new(&[("main.toml", flow("welcome"))]);
    let (server, api, admin) = start(&flows, false).await;
    add_user(&server, "sup", "supervisor", SUPERVISOR_PW);
    add_user(&server, "agent", "agent", AGENT_PW);
    let supervisor = api.token("sup", SUPERVISOR_PW).await;
    let agent = api.token("agent", AGENT_PW).await;

    // Reading: supervisors, managers and admins; not agents, not anonymous.
    api.get("/ivr/flows", None).await.error(401, "unauthorized");
    api.get("/ivr/flows", Some(&agent))
        .await
        .error(403, "forbidden");
    let a = api.get("/ivr/flows", Some(&supervisor)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["version"], 1);
    assert_eq!(a.body["dir"], flows.flows_dir().display().to_string());
    assert_eq!(
        a.body["flows"],
        json!([{"name": "main", "path": flows.flows_dir().join("main.toml").display().to_string()}])
    );
    assert_eq!(a.body["last_error"], Value::Null);
    assert_eq!(a.body["loaded_at"].as_str().unwrap().len(), 24);

    // Reloading: admins only.
    api.post("/admin/ivr/reload", None, json!({}))
        .await
        .error(401, "unauthorized");
    api.post("/admin/ivr/reload", Some(&supervisor), json!({}))
        .await
        .error(403, "forbidden");
    flows.write("extra.toml", &flow("goodbye"));
    let a = api.post("/admin/ivr/reload", Some(&admin), json!({})).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["version"], 2);
    assert_eq!(a.body["flows"], json!(["extra", "main"]));

    // A broken file: 422 with every problem; version 2 stays in force.
    flows.write("extra.toml", &flow("no-such-prompt"));
    let a = api.post("/admin/ivr/reload", Some(&admin), json!({})).await;
    assert!(a.error(422, "invalid").contains("version 2 stays in force"));
    assert_eq!(a.body["version"], 2);
    let extra = flows.flows_dir().join("extra.toml").display().to_string();
    assert_eq!(a.body["problems"][0]["file"], extra);
    assert_eq!(a.body["problems"][0]["line"], 6);
    assert!(a.body["problems"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("missing prompt `no-such-prompt`"));
    let a = api.get("/ivr/flows", Some(&supervisor)).await;
    assert_eq!(a.body["version"], 2);
    assert_eq!(names(&a.body), ["extra", "main"]);
    assert_eq!(a.body["last_error"]["kept_version"], 2);
    assert_eq!(a.body["last_error"]["problems"][0]["file"], extra);

    // Removing the flow the route runs is refused too.
    std::fs::remove_file(flows.flows_dir().join("extra.toml")).unwrap();
    std::fs::remove_file(flows.flows_dir().join("main.toml")).unwrap();
    let a = api.post("/admin/ivr/reload", Some(&admin), json!({})).await;
    a.error(422, "invalid");
    assert!(a.body["problems"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("flow `main` is gone, but routes[0] (number `100`) runs it"));

    let metrics = server.metrics_text().await;
    assert!(
        metrics.contains("hibiki_ivr_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hibiki_ivr_reloads_total{result=\"error\"} 2"),
        "{metrics}"
    );
    let log = server.stderr_text();
    assert!(log.contains("IVR flows reloaded"), "{log}");
    assert!(log.contains("missing prompt `no-such-prompt`"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_and_a_broken_file_keeps_the_old_version() {
    let flows = Flows::new(&[("main.toml", flow("welcome"))]);
    let (server, api, admin) = start(&flows, false).await;

    flows.write("main.toml", &flow("welcome").replace("\"bye\"", "\"by\""));
    sighup(&server);
    let body = wait_for_flows(&api, &admin, "the refused reload", |b| {
        !b["last_error"].is_null()
    })
    .await;
    assert_eq!(body["version"], 1, "the old version stays: {body:#}");
    assert_eq!(names(&body), ["main"]);
    let problem = &body["last_error"]["problems"][0];
    assert_eq!(
        problem["file"],
        flows.flows_dir().join("main.toml").display().to_string()
    );
    assert_eq!(problem["line"], 7);
    assert_eq!(
        problem["reason"],
        "step `hello`: `next` goes to unknown step `by`"
    );
    assert!(server.stderr_text().contains("IVR flow reload refused"));

    flows.write("main.toml", &flow("goodbye"));
    sighup(&server);
    let body = wait_for_flows(&api, &admin, "the fixed reload", |b| b["version"] == 2).await;
    assert_eq!(body["last_error"], Value::Null);
    // Still serving: the server did not die of the SIGHUP.
    assert_eq!(server.http_get("/readyz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn file_changes_in_the_flows_and_prompts_folders_reload() {
    let flows = Flows::new(&[("main.toml", flow("welcome"))]);
    let (_server, api, admin) = start(&flows, true).await;

    // A new flow file appears.
    flows.write("extra.toml", &flow("goodbye"));
    let body = wait_for_flows(&api, &admin, "the new flow", |b| {
        names(b) == ["extra", "main"]
    })
    .await;
    let version = body["version"].as_u64().unwrap();
    assert!(version >= 2, "{body:#}");

    // A flow needing a prompt that is not there yet: refused.
    flows.write("extra.toml", &flow("new-prompt"));
    let body = wait_for_flows(&api, &admin, "the refused reload", |b| {
        !b["last_error"].is_null()
    })
    .await;
    assert_eq!(body["version"].as_u64(), Some(version));
    assert!(body["last_error"]["problems"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("missing prompt `new-prompt`"));

    // The prompt is recorded: the change in the prompts folder reloads.
    let en = flows.prompts_dir().join("en");
    std::fs::copy(en.join("welcome.wav"), en.join("new-prompt.wav")).unwrap();
    let body = wait_for_flows(&api, &admin, "the reload after the prompt", |b| {
        b["last_error"].is_null() && b["version"].as_u64() > Some(version)
    })
    .await;
    assert_eq!(names(&body), ["extra", "main"]);
    let version = body["version"].as_u64().unwrap();

    // The file is removed: its flow goes.
    std::fs::remove_file(flows.flows_dir().join("extra.toml")).unwrap();
    let body = wait_for_flows(&api, &admin, "the removed flow", |b| names(b) == ["main"]).await;
    assert!(body["version"].as_u64() > Some(version), "{body:#}");
}
