//! The API's authentication through the real server: logins, bearer
//! tokens (missing, garbage, expired, revoked), roles, the user
//! endpoints, JSON errors, the `hibiki user` CLI against the server's
//! database, the login lockout, and the OpenAPI file's endpoints. On
//! SQLite by default, on PostgreSQL with `HIBIKI_TEST_DB=postgres`
//! (`scripts/test.sh` runs both). The demo users of the embedded default
//! are `tests/api_demo_users.rs`.

mod common;

use std::time::Duration;

use common::api::{add_user, now_ms, parse_rfc3339_ms, user_cli, Api};
use common::{ServerConfig, TestServer};
use reqwest::header::{CACHE_CONTROL, RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::{json, Value};

/// A test-only password (never a real one).
const ADMIN_PW: &str = "test-only-admin-pw";
const AGENT_PW: &str = "test-only-agent-pw";

/// A server (default trunks and routes) with an admin made by the CLI.
async fn server_with_admin(env: Vec<(String, String)>) -> (TestServer, Api) {
    let server = TestServer::start_with(ServerConfig {
        env,
        ..ServerConfig::default()
    })
    .await;
    add_user(&server, "admin", "admin", ADMIN_PW);
    let api = Api::new(&server);
    (server, api)
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread")]
async fn login_gives_a_token_that_me_accepts() {
    let (_server, api) = server_with_admin(Vec::new()).await;
    let before = now_ms();
    let login = api.login("admin", ADMIN_PW).await;
    let after = now_ms();
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.headers[CACHE_CONTROL], "no-store");
    let token = login.body["token"].as_str().unwrap();
    assert_eq!(token.len(), 43, "32 bytes, base64url: {token}");
    // The default lifetime: 8 hours from the login.
    let expires = parse_rfc3339_ms(login.body["expires_at"].as_str().unwrap());
    let ttl = 8 * 3600 * 1000;
    assert!(
        (before + ttl..=after + ttl).contains(&expires),
        "expires_at {expires} not 8 h after the login ({before}..={after})"
    );
    let user = &login.body["user"];
    assert_eq!(user["username"], "admin");
    assert_eq!(user["display_name"], "admin");
    assert_eq!(user["role"], "admin");
    assert_eq!(user["disabled"], false);
    assert!(user.get("password_hash").is_none(), "{user}");

    let me = api.get("/me", Some(token)).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["id"], user["id"]);
    assert_eq!(me.body["username"], "admin");
    assert_eq!(me.body["role"], "admin");

    // Usernames are lower case; what is typed is lower-cased.
    assert_eq!(api.login("ADMIN", ADMIN_PW).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_and_an_unknown_user_get_the_same_401() {
    let (_server, api) = server_with_admin(Vec::new()).await;
    let wrong = api.login("admin", "not-the-password").await;
    let unknown = api.login("nobody", "not-the-password").await;
    let message = wrong.error(401, "unauthorized");
    assert_eq!(message, "invalid username or password");
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(unknown.status, 401);
    for a in [&wrong, &unknown] {
        assert_eq!(a.headers[WWW_AUTHENTICATE], "Bearer realm=\"hibiki\"");
        assert!(a.body.get("token").is_none());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_is_401_with_a_bearer_challenge() {
    let (_server, api) = server_with_admin(Vec::new()).await;
    for path in ["/me", "/users"] {
        let a = api.get(path, None).await;
        let message = a.error(401, "unauthorized");
        assert!(message.contains("Authorization: Bearer"), "{message}");
        assert_eq!(a.headers[WWW_AUTHENTICATE], "Bearer realm=\"hibiki\"");
    }
    let a = api.post("/auth/logout", None, json!({})).await;
    a.error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_tokens_and_other_schemes_are_401() {
    let (_server, api) = server_with_admin(Vec::new()).await;
    let a = api.get("/me", Some("garbage")).await;
    assert_eq!(a.error(401, "unauthorized"), "unknown token");
    assert_eq!(
        a.headers[WWW_AUTHENTICATE],
        "Bearer realm=\"hibiki\", error=\"invalid_token\""
    );
    // A real token with one character changed.
    let token = api.token("admin", ADMIN_PW).await;
    let mut bent = token.clone().into_bytes();
    bent[0] = if bent[0] == b'A' { b'B' } else { b'A' };
    let bent = String::from_utf8(bent).unwrap();
    assert_eq!(
        api.get("/me", Some(&bent)).await.error(401, "unauthorized"),
        "unknown token"
    );
    // Basic auth is not a bearer token.
    let req = api
        .client
        .get(format!("{}/me", api.base))
        .basic_auth("admin", Some(ADMIN_PW));
    api.send(req, None).await.error(401, "unauthorized");
    // A query token outside a WebSocket upgrade is refused, even a good one.
    let a = api.get(&format!("/me?token={token}"), None).await;
    assert!(a.error(401, "unauthorized").contains("WebSocket"));
    // ... and accepted on an upgrade request (the websockets' way in).
    let req = api
        .client
        .get(format!("{}/me?token={token}", api.base))
        .header("connection", "upgrade")
        .header("upgrade", "websocket");
    let a = api.send(req, None).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["username"], "admin");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_is_401() {
    let (_server, api) =
        server_with_admin(vec![("HIBIKI_AUTH_TOKEN_TTL_SECONDS".into(), "1".into())]).await;
    let before = now_ms();
    let login = api.login("admin", ADMIN_PW).await;
    let after = now_ms();
    assert_eq!(login.status, 200, "{:?}", login.body);
    let token = login.body["token"].as_str().unwrap();
    let expires = parse_rfc3339_ms(login.body["expires_at"].as_str().unwrap());
    assert!(
        (before + 1000..=after + 1000).contains(&expires),
        "expires_at {expires}: 1 s after the login ({before}..={after})"
    );
    // Wait until the expiry has certainly passed on this (shared) clock.
    while now_ms() <= expires + 50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let a = api.get("/me", Some(token)).await;
    assert!(
        a.error(401, "unauthorized").contains("expired"),
        "{:?}",
        a.body
    );
    assert_eq!(
        a.headers[WWW_AUTHENTICATE],
        "Bearer realm=\"hibiki\", error=\"invalid_token\""
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_revokes_the_token_it_presents_only() {
    let (_server, api) = server_with_admin(Vec::new()).await;
    let first = api.token("admin", ADMIN_PW).await;
    let second = api.token("admin", ADMIN_PW).await;
    assert_ne!(first, second);
    let out = api.post("/auth/logout", Some(&first), json!(null)).await;
    assert_eq!(out.status, 204, "{:?}", out.body);
    assert_eq!(out.body, Value::Null, "204 has no body");
    let a = api.get("/me", Some(&first)).await;
    assert!(a.error(401, "unauthorized").contains("revoked"));
    api.post("/auth/logout", Some(&first), json!(null))
        .await
        .error(401, "unauthorized");
    // The other session goes on.
    assert_eq!(api.get("/me", Some(&second)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_is_forbidden_the_admin_endpoints() {
    let (server, api) = server_with_admin(Vec::new()).await;
    add_user(&server, "agent1", "agent", AGENT_PW);
    let agent = api.token("agent1", AGENT_PW).await;
    let me = api.get("/me", Some(&agent)).await;
    assert_eq!((me.status, me.body["role"].as_str()), (200, Some("agent")));

    let a = api.get("/users", Some(&agent)).await;
    assert_eq!(
        a.error(403, "forbidden"),
        "this needs the role admin (you are agent)"
    );
    let new_user = json!({"username": "x1", "role": "admin", "password": "long enough"});
    api.post("/users", Some(&agent), new_user)
        .await
        .error(403, "forbidden");
    api.post("/users/admin/disable", Some(&agent), json!(null))
        .await
        .error(403, "forbidden");
    // Nothing was created or disabled.
    let admin = api.token("admin", ADMIN_PW).await;
    let users = api.get("/users", Some(&admin)).await;
    let names: Vec<&str> = users
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "agent1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_creates_a_user_who_logs_in_and_disables_them() {
    let (_server, api) = server_with_admin(Vec::new()).await;
    let admin = api.token("admin", ADMIN_PW).await;
    let body = json!({
        "username": "jane",
        "display_name": "Jane Doe",
        "role": "supervisor",
        "password": "jane-test-pw"
    });
    let created = api.post("/users", Some(&admin), body.clone()).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["username"], "jane");
    assert_eq!(created.body["display_name"], "Jane Doe");
    assert_eq!(created.body["role"], "supervisor");
    assert!(created.body.get("password").is_none() && created.body.get("password_hash").is_none());

    let login = api.login("jane", "jane-test-pw").await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.body["user"]["id"], created.body["id"]);
    let jane = login.body["token"].as_str().unwrap().to_owned();

    let dup = api.post("/users", Some(&admin), body).await;
    assert!(dup.error(409, "conflict").contains("jane"));

    let users = api.get("/users", Some(&admin)).await;
    assert_eq!(users.status, 200);
    let list = users.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["username"], "jane");

    let disabled = api
        .post("/users/jane/disable", Some(&admin), json!(null))
        .await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    assert_eq!(disabled.body["disabled"], true);
    // Her live token is refused at once, and she cannot log in again.
    api.get("/me", Some(&jane)).await.error(401, "unauthorized");
    let again = api.login("jane", "jane-test-pw").await;
    assert_eq!(again.error(403, "forbidden"), "this account is disabled");
    // A wrong password does not learn that the account is disabled.
    assert_eq!(
        api.login("jane", "wrong-password")
            .await
            .error(401, "unauthorized"),
        "invalid username or password"
    );

    api.post("/users/nobody/disable", Some(&admin), json!(null))
        .await
        .error(404, "not_found");
    api.post("/users/admin/disable", Some(&admin), json!(null))
        .await
        .error(409, "conflict");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_user_input_is_422_with_a_message() {
    let (_server, api) = server_with_admin(Vec::new()).await;
    let admin = api.token("admin", ADMIN_PW).await;
    let cases = [
        (
            json!({"username": "", "role": "agent", "password": "long enough"}),
            "invalid username",
        ),
        (
            json!({"username": "Bob", "role": "agent", "password": "long enough"}),
            "invalid username",
        ),
        (
            json!({"username": "bob", "role": "agent", "password": "short"}),
            "at least 8",
        ),
        (
            json!({"username": "bob", "role": "root", "password": "long enough"}),
            "unknown role `root`",
        ),
        (
            json!({"username": "bob", "role": "agent", "password": "long enough", "display_name": "  "}),
            "display name",
        ),
    ];
    for (body, expected) in cases {
        let a = api.post("/users", Some(&admin), body.clone()).await;
        let message = a.error(422, "invalid");
        assert!(message.contains(expected), "{body}: {message}");
    }
    // A misspelt field is refused by name, not ignored.
    let a = api
        .post(
            "/users",
            Some(&admin),
            json!({"username": "bob", "role": "agent", "password": "long enough", "displayname": "Bob"}),
        )
        .await;
    assert!(a.error(422, "invalid").contains("displayname"));
    let users = api.get("/users", Some(&admin)).await;
    assert_eq!(
        users.body.as_array().unwrap().len(),
        1,
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_json_is_4xx_with_a_json_message() {
    let (_server, api) = server_with_admin(Vec::new()).await;
    let a = api
        .post_raw("/auth/login", Some("application/json"), "{\"username\": ")
        .await;
    assert!(a.error(400, "bad_request").contains("JSON"));
    let a = api
        .post_raw(
            "/auth/login",
            None,
            "{\"username\":\"admin\",\"password\":\"x\"}",
        )
        .await;
    assert!(a
        .error(415, "unsupported_media_type")
        .contains("application/json"));
    let a = api
        .post_raw(
            "/auth/login",
            Some("application/json"),
            "{\"username\":\"admin\"}",
        )
        .await;
    assert!(a.error(422, "invalid").contains("password"));
    let a = api
        .post_raw("/auth/login", Some("application/json"), "[1, 2]")
        .await;
    a.error(422, "invalid");
    // Unknown endpoints and methods answer in the same shape.
    api.get("/nope", None).await.error(404, "not_found");
    api.get("/auth/login", None)
        .await
        .error(405, "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_adds_a_user_with_a_printed_password_and_changes_it() {
    let (server, api) = server_with_admin(Vec::new()).await;
    let (ok, stdout, stderr) = user_cli(
        &server,
        &[
            "add",
            "bob",
            "--role",
            "manager",
            "--display-name",
            "Bob B.",
        ],
        None,
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("created user bob (manager)"), "{stdout}");
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no password printed: {stdout}"))
        .to_owned();
    assert_eq!(password.len(), 16, "{password}");
    let login = api.login("bob", &password).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.body["user"]["display_name"], "Bob B.");
    assert_eq!(login.body["user"]["role"], "manager");
    let old_token = login.body["token"].as_str().unwrap().to_owned();

    let (ok, stdout, stderr) = user_cli(&server, &["list"], None);
    assert!(ok, "{stderr}");
    let bob = stdout
        .lines()
        .find(|l| l.starts_with("bob "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        bob.contains("manager") && bob.contains("active") && bob.contains("Bob B."),
        "{bob}"
    );
    assert!(
        !stdout.contains("argon2"),
        "no hashes in the list: {stdout}"
    );

    // A taken name and a bad role are refused with a message.
    let (ok, _, stderr) = user_cli(&server, &["add", "bob", "--role", "agent"], None);
    assert!(!ok && stderr.contains("taken"), "{stderr}");
    let (ok, _, stderr) = user_cli(&server, &["add", "carl", "--role", "root"], None);
    assert!(!ok && stderr.contains("unknown role"), "{stderr}");
    let (ok, _, stderr) = user_cli(
        &server,
        &["add", "carl", "--role", "agent", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!ok && stderr.contains("at least 8"), "{stderr}");

    // passwd: the new password works, the old one and its token do not.
    let (ok, stdout, stderr) = user_cli(
        &server,
        &["passwd", "bob", "--password-stdin"],
        Some("bob-new-test-pw\r\n"),
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(!stdout.contains("bob-new-test-pw"), "{stdout}");
    api.get("/me", Some(&old_token))
        .await
        .error(401, "unauthorized");
    api.login("bob", &password).await.error(401, "unauthorized");
    assert_eq!(api.login("bob", "bob-new-test-pw").await.status, 200);
    let (ok, _, stderr) = user_cli(&server, &["passwd", "nobody"], None);
    assert!(!ok && stderr.contains("no user"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn five_failed_logins_lock_the_username_for_a_while() {
    let (server, api) = server_with_admin(Vec::new()).await;
    add_user(&server, "agent1", "agent", AGENT_PW);
    for _ in 0..5 {
        api.login("agent1", "wrong-password")
            .await
            .error(401, "unauthorized");
    }
    // Locked: even the right password is refused, without being checked.
    let a = api.login("agent1", AGENT_PW).await;
    assert!(a.error(429, "too_many_requests").contains("try again"));
    let retry: u64 = a.headers[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    // Other usernames are not affected.
    assert_eq!(api.login("admin", ADMIN_PW).await.status, 200);
}

/// `docs/api/openapi.yaml` describes routes that exist: each documented
/// path and method answers something other than 404/405 (without a
/// token: 401, or the login's body errors).
#[tokio::test(flavor = "multi_thread")]
async fn every_documented_endpoint_exists() {
    let spec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/api/openapi.yaml"
    ))
    .unwrap();
    let mut endpoints = Vec::new();
    let mut in_paths = false;
    let mut path = String::new();
    for line in spec.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_paths = line == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /") {
            path = format!("/{}", p.trim_end_matches(':'));
        } else if let Some(m) = line.strip_prefix("    ") {
            let m = m.trim_end_matches(':');
            if ["get", "post", "put", "patch", "delete"].contains(&m) {
                endpoints.push((
                    m.to_owned(),
                    path.replace("{username}", "someone")
                        .replace("{id}", "some-call"),
                ));
            }
        }
    }
    assert_eq!(endpoints.len(), 28, "{endpoints:?}");
    let (_server, api) = server_with_admin(Vec::new()).await;
    for (method, path) in endpoints {
        let url = format!("{}{path}", api.base);
        let req = match method.as_str() {
            "get" => api.client.get(url),
            "put" => api.client.put(url),
            "patch" => api.client.patch(url),
            _ => api.client.post(url),
        };
        let a = api.send(req, None).await;
        assert!(
            ![404, 405].contains(&a.status),
            "{method} {path}: {} {:?}",
            a.status,
            a.body
        );
    }
}
