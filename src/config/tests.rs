//! Loader tests: defaults, a full file, overrides, and every kind of refusal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::*;

const EXAMPLE: &str = include_str!("../../hibiki.example.toml");

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn from_str_env(text: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, Path::new("test.toml"), env(pairs))
}

fn from_str(text: &str) -> Result<Config, ConfigError> {
    from_str_env(text, &[])
}

fn err_env(text: &str, pairs: &[(&str, &str)]) -> ConfigError {
    match from_str_env(text, pairs) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e,
    }
}

fn err(text: &str) -> ConfigError {
    err_env(text, &[])
}

/// Asserts the error names `key`, the file line and a reason containing `reason`.
fn assert_file_error(e: &ConfigError, key: &str, line: usize, reason: &str) {
    assert_eq!(e.key(), Some(key), "{e}");
    assert_eq!(e.line(), Some(line), "{e}");
    let shown = e.to_string();
    assert!(shown.contains(&format!("test.toml:{line}")), "{shown}");
    assert!(shown.contains(key), "{shown}");
    assert!(shown.contains(reason), "{shown}");
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn no_file_means_the_embedded_default() {
    let c = Config::load_with_env(None, env(&[("PATH", "/bin")])).unwrap();
    assert_eq!(c, Config::embedded_default());
    assert_eq!(c.sip.listen, addr("127.0.0.1:5060"));
    assert!(c.sip.udp && c.sip.tcp);
    assert_eq!(c.sip.public_address, None);
    assert_eq!(
        c.sip.user_agent,
        format!("Hibiki/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(c.sip.realm, "hibiki");
    assert_eq!((c.sip.t1_ms, c.sip.t2_ms, c.sip.t4_ms), (500, 4000, 5000));
    assert_eq!(c.sip.max_calls, 10_000);
    assert_eq!(c.http.listen, addr("127.0.0.1:8080"));
    assert_eq!(c.data.dir, PathBuf::from("./data"));
    assert_eq!(c.database_url(), "sqlite://./data/hibiki.db");
    assert_eq!(c.database.max_connections, 8);
    assert_eq!(c.recording_dir(), PathBuf::from("./data/recordings"));
    assert_eq!(c.log.format, LogFormat::Human);
    assert_eq!(c.log.level, "info");
    assert_eq!(c.shutdown.grace_seconds, 30);
    assert_eq!(c.auth.token_ttl_seconds, 8 * 3600);
    assert_eq!(c.customers.default_region, "JP");
    assert!(!c.node.id.is_empty());

    assert_eq!(c.trunks.len(), 1);
    let local = &c.trunks[0];
    assert_eq!(local.name, "local");
    let inbound = local.inbound.as_ref().unwrap();
    let sources: Vec<String> = inbound.sources.iter().map(|n| n.to_string()).collect();
    assert_eq!(sources, ["127.0.0.1/32", "::1/128"]);
    assert!(inbound.username.is_none() && local.outbound.is_none());
    assert_eq!(
        c.routes,
        vec![RouteConfig {
            number: "100".into(),
            action: RouteAction::Ivr {
                flow: "demo".into()
            }
        }]
    );
    assert_eq!(c.ivr.flows_dir, PathBuf::from("ivr-flows"));
    assert!(c.ivr.watch);
}

#[test]
fn a_file_brings_no_implicit_trunks_or_routes() {
    let c = from_str("[sip]\nlisten = \"127.0.0.1:5070\"\n").unwrap();
    assert_eq!(c.sip.listen, addr("127.0.0.1:5070"));
    assert!(c.trunks.is_empty());
    assert!(c.routes.is_empty());
    // Missing scalar keys take their defaults.
    assert_eq!(c.sip.t1_ms, 500);
    assert_eq!(c.http, HttpConfig::default());
    // An empty file is valid too.
    assert!(from_str("").unwrap().trunks.is_empty());
}

#[test]
fn the_example_file_loads_completely() {
    let secrets = [
        ("HIBIKI_SECRET_CARRIER", "carrier-pw"),
        ("HIBIKI_SECRET_PBX", "pbx-pw"),
    ];
    let c = from_str_env(EXAMPLE, &secrets).unwrap();
    assert_eq!(c.node.id, "hibiki-1");
    assert_eq!(c.sip.listen, addr("0.0.0.0:5060"));
    assert_eq!(c.sip.public_address.as_deref(), Some("203.0.113.10:5060"));
    assert_eq!(c.sip.user_agent, "Hibiki");
    assert_eq!(c.sip.realm, "hibiki.example.com");
    assert_eq!(c.sip.max_calls, 10_000);
    assert_eq!(c.http.listen, addr("127.0.0.1:8080"));
    assert_eq!(c.data.dir, PathBuf::from("/var/lib/hibiki"));
    assert_eq!(c.database_url(), "postgres://hibiki@127.0.0.1:5432/hibiki");
    assert_eq!(c.database.max_connections, 16);
    assert_eq!(
        c.recording_dir(),
        PathBuf::from("/var/lib/hibiki/recordings")
    );
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.log.level, "info,hibiki_sip=warn");
    assert_eq!(c.shutdown.grace_seconds, 60);
    assert_eq!(c.auth.token_ttl_seconds, 43_200);
    assert_eq!(c.customers.default_region, "US");

    assert_eq!(c.trunks.len(), 2);
    let carrier = &c.trunks[0];
    let sources: Vec<String> = carrier
        .inbound
        .as_ref()
        .unwrap()
        .sources
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(sources, ["198.51.100.0/24", "192.0.2.7/32"]);
    let out = carrier.outbound.as_ref().unwrap();
    assert_eq!(out.address, "sip.carrier.example:5060");
    assert_eq!(out.transport, TransportKind::Udp);
    assert_eq!(out.username.as_deref(), Some("acme"));
    assert_eq!(out.password.as_ref().unwrap().expose(), "carrier-pw");
    assert_eq!(out.from_domain.as_deref(), Some("acme.example"));
    let pbx = c.trunks[1].inbound.as_ref().unwrap();
    assert!(pbx.sources.is_empty());
    assert_eq!(pbx.password.as_ref().unwrap().expose(), "pbx-pw");

    assert_eq!(c.routes[0].action, RouteAction::Test { ring_ms: 1000 });
    assert_eq!(
        c.routes[1].action,
        RouteAction::Trunk {
            trunk: "carrier".into(),
            to: Some("+81312345678".into()),
            ring_timeout_seconds: 45,
        }
    );
    assert_eq!(
        out.codecs,
        [
            crate::config::CodecName::Pcma,
            crate::config::CodecName::Pcmu
        ]
    );
    assert_eq!(
        c.routes[2].action,
        RouteAction::Reject {
            status: 486,
            reason: Some("Busy Here".into())
        }
    );
    assert_eq!(
        c.routes[3].action,
        RouteAction::Ivr {
            flow: "demo".into()
        }
    );
    assert_eq!(c.ivr, IvrConfig::default());
}

#[test]
fn load_reads_a_file_and_reports_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hibiki.toml");
    std::fs::write(&path, "[http]\nlisten = \"127.0.0.1:9090\"\n").unwrap();
    let c = Config::load_with_env(Some(&path), Vec::new()).unwrap();
    assert_eq!(c.http.listen, addr("127.0.0.1:9090"));

    std::fs::write(&path, "[http]\n\nlisten = 5\n").unwrap();
    let e = Config::load_with_env(Some(&path), Vec::new()).unwrap_err();
    assert_eq!((e.key(), e.line()), (Some("http.listen"), Some(3)));
    assert!(
        e.to_string().contains(&format!("{}:3", path.display())),
        "{e}"
    );

    let missing = dir.path().join("absent.toml");
    let e = Config::load_with_env(Some(&missing), Vec::new()).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");
    assert!(e.to_string().contains("absent.toml"), "{e}");
}

/// Every scalar key, set from the environment.
#[test]
fn every_env_override_form() {
    let pairs = [
        ("HIBIKI_NODE_ID", "node-7"),
        ("HIBIKI_SIP_LISTEN", "127.0.0.1:5070"),
        ("HIBIKI_SIP_UDP", "false"),
        ("HIBIKI_SIP_TCP", "true"),
        ("HIBIKI_SIP_PUBLIC_ADDRESS", "192.0.2.1:5080"),
        ("HIBIKI_SIP_USER_AGENT", "Test UA"),
        ("HIBIKI_SIP_REALM", "example"),
        ("HIBIKI_SIP_T1_MS", "100"),
        ("HIBIKI_SIP_T2_MS", "800"),
        ("HIBIKI_SIP_T4_MS", "900"),
        ("HIBIKI_SIP_MAX_CALLS", "5"),
        ("HIBIKI_HTTP_LISTEN", "127.0.0.1:18080"),
        ("HIBIKI_DATA_DIR", "/tmp/hb"),
        ("HIBIKI_DATABASE_MAX_CONNECTIONS", "2"),
        ("HIBIKI_LOG_FORMAT", "json"),
        ("HIBIKI_LOG_LEVEL", "debug"),
        ("HIBIKI_SHUTDOWN_GRACE_SECONDS", "5"),
        ("HIBIKI_SIP_DIGEST_ALGORITHMS", "MD5, SHA-256"),
        ("HIBIKI_MEDIA_PORT_MIN", "30000"),
        ("HIBIKI_MEDIA_PORT_MAX", "30099"),
        ("HIBIKI_MEDIA_PUBLIC_ADDRESS", "203.0.113.5"),
        ("HIBIKI_MEDIA_TIMEOUT_SECONDS", "0"),
        ("HIBIKI_RECORDING_ENABLED", "false"),
        ("HIBIKI_AUTH_TOKEN_TTL_SECONDS", "1"),
        ("HIBIKI_IVR_FLOWS_DIR", "/srv/flows"),
        ("HIBIKI_IVR_WATCH", "false"),
    ];
    let c = Config::load_with_env(None, env(&pairs)).unwrap();
    assert_eq!(c.ivr.flows_dir, PathBuf::from("/srv/flows"));
    assert!(!c.ivr.watch);
    assert_eq!(c.auth.token_ttl_seconds, 1);
    assert_eq!(c.sip.digest_algorithms, ["MD5", "SHA-256"]);
    assert_eq!((c.media.port_min, c.media.port_max), (30000, 30099));
    assert_eq!(c.media.public_address, Some("203.0.113.5".parse().unwrap()));
    assert_eq!(c.media.timeout_seconds, 0);
    assert!(!c.recording.enabled);
    assert_eq!(c.node.id, "node-7");
    assert_eq!(c.sip.listen, addr("127.0.0.1:5070"));
    assert!(!c.sip.udp && c.sip.tcp);
    assert_eq!(c.sip.public_address.as_deref(), Some("192.0.2.1:5080"));
    assert_eq!(c.sip.user_agent, "Test UA");
    assert_eq!(c.sip.realm, "example");
    assert_eq!((c.sip.t1_ms, c.sip.t2_ms, c.sip.t4_ms), (100, 800, 900));
    assert_eq!(c.sip.max_calls, 5);
    assert_eq!(c.http.listen, addr("127.0.0.1:18080"));
    // The derived paths follow data.dir.
    assert_eq!(c.database_url(), "sqlite:///tmp/hb/hibiki.db");
    assert_eq!(c.recording_dir(), PathBuf::from("/tmp/hb/recordings"));
    assert_eq!(c.database.max_connections, 2);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.log.level, "debug");
    assert_eq!(c.shutdown.grace_seconds, 5);
    // The embedded trunk and route are still there.
    assert_eq!(c.routes.len(), 1);

    let c = Config::load_with_env(
        None,
        env(&[
            ("HIBIKI_DATABASE_URL", "postgres://u@127.0.0.1/h"),
            ("HIBIKI_RECORDING_DIR", "/rec"),
        ]),
    )
    .unwrap();
    assert_eq!(c.database_url(), "postgres://u@127.0.0.1/h");
    assert_eq!(c.recording_dir(), PathBuf::from("/rec"));
}

#[test]
fn env_beats_file_and_empty_clears_optional_keys() {
    let file = "[sip]\nlisten = \"127.0.0.1:5060\"\npublic_address = \"192.0.2.1\"\n\
                [database]\nurl = \"postgres://x@127.0.0.1/y\"\n";
    let c = from_str_env(
        file,
        &[
            ("HIBIKI_SIP_LISTEN", "127.0.0.1:5099"),
            ("HIBIKI_SIP_PUBLIC_ADDRESS", ""),
            ("HIBIKI_DATABASE_URL", ""),
        ],
    )
    .unwrap();
    assert_eq!(c.sip.listen, addr("127.0.0.1:5099"));
    assert_eq!(c.sip.public_address, None);
    assert_eq!(c.database_url(), "sqlite://./data/hibiki.db");
}

#[test]
fn bad_env_values_name_the_variable_key_and_reason() {
    let e = err_env("", &[("HIBIKI_SIP_LISTEN", "localhost")]);
    assert_eq!(e.key(), Some("sip.listen"));
    let shown = e.to_string();
    assert!(shown.contains("HIBIKI_SIP_LISTEN"), "{shown}");
    assert!(shown.contains("invalid socket address"), "{shown}");

    for (var, value, reason) in [
        ("HIBIKI_SIP_UDP", "yes", "invalid value `yes`"),
        ("HIBIKI_SIP_MAX_CALLS", "-3", "invalid value `-3`"),
        ("HIBIKI_LOG_FORMAT", "xml", "unknown log format"),
    ] {
        let e = err_env("", &[(var, value)]);
        assert!(e.to_string().contains(var), "{e}");
        assert!(e.to_string().contains(reason), "{e}");
    }

    // A value that parses but fails validation is still blamed on the variable.
    let e = err_env("[sip]\nt1_ms = 500\n", &[("HIBIKI_SIP_T1_MS", "0")]);
    assert_eq!(e.key(), Some("sip.t1_ms"));
    assert!(matches!(
        &e,
        ConfigError::Invalid { at: Location::Env { var }, .. } if var == "HIBIKI_SIP_T1_MS"
    ));
    let e = err_env("", &[("HIBIKI_LOG_LEVEL", "info,[[[")]);
    assert!(e.to_string().contains("HIBIKI_LOG_LEVEL"), "{e}");
}

#[test]
fn unknown_env_vars_are_refused_by_name() {
    for var in [
        "HIBIKI_SIP_LISTN",
        "HIBIKI_SIPLISTEN",
        "HIBIKI_FOO_BAR",
        "HIBIKI_TRUNKS_NAME",
        "HIBIKI_ROUTES_NUMBER",
    ] {
        let e = err_env("", &[(var, "1")]);
        assert!(e.to_string().contains(var), "{var}: {e}");
    }
    let e = err_env("", &[("HIBIKI_SIP_LISTN", "1")]);
    assert_eq!(e.key(), Some("sip.listn"));
    assert!(e.to_string().contains("unknown key"), "{e}");

    // The allow-list, and variables that are not ours, are ignored.
    let ignored = [
        ("HIBIKI_CONFIG", "/etc/hibiki.toml"),
        ("HIBIKI_TEST_PG", "1"),
        ("HIBIKI_SECRET_UNUSED", "x"),
        ("HOME", "/root"),
        ("hibiki_sip_listen", "lower case is not ours"),
    ];
    assert!(from_str_env("", &ignored).is_ok());
}

#[test]
fn unknown_file_keys_are_refused_with_key_and_line() {
    let e = err("[sip]\nlisten = \"127.0.0.1:5060\"\nlisen = 1\n");
    assert_file_error(&e, "sip.lisen", 3, "unknown field `lisen`");
    let e = err("[node]\nid = \"a\"\n\n[sipp]\n");
    assert_file_error(&e, "sipp", 4, "unknown field `sipp`");
    let e = err(
        "[[trunks]]\nname = \"t\"\n[trunks.inbound]\nsources = [\"10.0.0.1\"]\npasword = \"x\"\n",
    );
    assert_file_error(
        &e,
        "trunks[0].inbound.pasword",
        5,
        "unknown field `pasword`",
    );
    let e = err("[[routes]]\nnumber = \"1\"\naction = \"test\"\nring = 5\n");
    assert_eq!(e.key(), Some("routes[0].ring"), "{e}");
    assert_eq!(e.line(), Some(4), "{e}");
}

#[test]
fn bad_file_values_name_key_line_and_reason() {
    let e = err("[sip]\nlisten = \"127.0.0.1\"\n");
    assert_file_error(&e, "sip.listen", 2, "invalid socket address");

    let e = err(
        "[[trunks]]\nname = \"t\"\n\n[trunks.inbound]\nsources = [\n  \"10.0.0.0/8\",\n  \"10.0.0.0/33\",\n]\n",
    );
    assert_file_error(
        &e,
        "trunks[0].inbound.sources[1]",
        7,
        "`10.0.0.0/33` is neither",
    );

    let e = err("[log]\nformat = \"human\"\nlevel = \"info,[[[\"\n");
    assert_file_error(&e, "log.level", 3, "not a valid log filter");

    let e = err("[log]\nformat = \"xml\"\n");
    assert_file_error(&e, "log.format", 2, "unknown variant `xml`");

    let e = err("[[routes]]\nnumber = \"1\"\naction = \"reject\"\nstatus = 200\n");
    assert_file_error(&e, "routes[0].status", 4, "200 is not a failure status");

    let e = err("[sip]\nt1_ms = -1\n");
    assert_file_error(&e, "sip.t1_ms", 2, "expected u64");

    // TOML syntax errors name the line.
    let e = err("[sip]\nlisten = \n");
    assert_eq!(e.line(), Some(2), "{e}");
}

#[test]
fn route_actions_take_only_their_keys() {
    let e = err("[[routes]]\nnumber = \"1\"\naction = \"reject\"\n");
    assert_eq!(e.key(), Some("routes[0]"));
    assert!(e.to_string().contains("needs a `status`"), "{e}");
    let e = err("[[routes]]\nnumber = \"1\"\naction = \"test\"\nstatus = 486\n");
    assert!(
        e.to_string()
            .contains("`status` does not apply to action = \"test\""),
        "{e}"
    );
    let e = err("[[routes]]\nnumber = \"1\"\naction = \"reject\"\nstatus = 486\nring_ms = 1\n");
    assert!(
        e.to_string()
            .contains("`ring_ms` does not apply to action = \"reject\""),
        "{e}"
    );
    let e = err("[[routes]]\nnumber = \"1\"\naction = \"trunk\"\n");
    assert!(e.to_string().contains("needs a `trunk`"), "{e}");
    let e = err("[[routes]]\nnumber = \"1\"\naction = \"demo\"\nto = \"2\"\n");
    assert!(e.to_string().contains("`to` does not apply"), "{e}");
    let e = err("[[routes]]\nnumber = \"1\"\naction = \"ivr\"\n");
    assert!(e.to_string().contains("needs a `flow`"), "{e}");
    let e = err("[[routes]]\nnumber = \"1\"\naction = \"ivr\"\nflow = \"x\"\nstatus = 1\n");
    assert!(
        e.to_string()
            .contains("`status` does not apply to action = \"ivr\""),
        "{e}"
    );
    let e = err("[[routes]]\nnumber = \"1\"\naction = \"test\"\nflow = \"x\"\n");
    assert!(e.to_string().contains("`flow` does not apply"), "{e}");
    let e = err("[[routes]]\nnumber = \"1\"\naction = \"ivy\"\n");
    assert!(e.to_string().contains("unknown action `ivy`"), "{e}");

    let c = from_str("[[routes]]\nnumber = \"*72#\"\naction = \"test\"\n").unwrap();
    assert_eq!(c.routes[0].action, RouteAction::Test { ring_ms: 0 });
    let c =
        from_str("[[routes]]\nnumber = \"sales\"\naction = \"reject\"\nstatus = 603\n").unwrap();
    assert_eq!(
        c.routes[0].action,
        RouteAction::Reject {
            status: 603,
            reason: None
        }
    );
}

const TRUNK_PW_ENV: &str = "[[trunks]]\nname = \"c\"\n[trunks.outbound]\naddress = \"192.0.2.1\"\n\
                            username = \"u\"\npassword_env = \"CARRIER_PW\"\n";

#[test]
fn ivr_routes_name_a_flow_and_the_ivr_section_sets_the_folder() {
    let c = from_str(
        "[ivr]\nflows_dir = \"/srv/hibiki/flows\"\nwatch = false\n\n\
         [[routes]]\nnumber = \"200\"\naction = \"ivr\"\nflow = \"sales-jp_2\"\n",
    )
    .unwrap();
    assert_eq!(c.ivr.flows_dir, PathBuf::from("/srv/hibiki/flows"));
    assert!(!c.ivr.watch);
    assert_eq!(
        c.routes[0].action,
        RouteAction::Ivr {
            flow: "sales-jp_2".into()
        }
    );
    // Only the syntax is checked here; the server checks the flow exists.
    let e = err("[[routes]]\nnumber = \"200\"\naction = \"ivr\"\nflow = \"../etc/passwd\"\n");
    assert_file_error(&e, "routes[0].flow", 4, "is not a flow name");
    let e = err("[[routes]]\nnumber = \"200\"\naction = \"ivr\"\nflow = \"demo.toml\"\n");
    assert_file_error(&e, "routes[0].flow", 4, "without .toml");
    let e = err("[ivr]\nwach = true\n");
    assert_eq!(e.line(), Some(2), "{e}");
    assert!(e.to_string().contains("wach"), "{e}");
}

#[test]
fn password_env_is_resolved_and_a_missing_one_is_named() {
    let c = from_str_env(TRUNK_PW_ENV, &[("CARRIER_PW", "hunter2")]).unwrap();
    let out = c.trunks[0].outbound.as_ref().unwrap();
    assert_eq!(out.password.as_ref().unwrap().expose(), "hunter2");
    assert_eq!(out.password_env.as_deref(), Some("CARRIER_PW"));

    let e = err(TRUNK_PW_ENV);
    assert_file_error(
        &e,
        "trunks[0].outbound.password_env",
        6,
        "environment variable CARRIER_PW is not set",
    );
    let e = err_env(TRUNK_PW_ENV, &[("CARRIER_PW", "")]);
    assert!(e.to_string().contains("CARRIER_PW is empty"), "{e}");

    // Both forms at once is ambiguous.
    let both = format!("{TRUNK_PW_ENV}password = \"x\"\n");
    let e = err_env(&both, &[("CARRIER_PW", "y")]);
    assert!(e.to_string().contains("not both"), "{e}");

    // A HIBIKI_ variable named by password_env is not taken for a typo.
    let named = TRUNK_PW_ENV.replace("CARRIER_PW", "HIBIKI_CARRIER_PW");
    let c = from_str_env(&named, &[("HIBIKI_CARRIER_PW", "pw")]).unwrap();
    assert!(c.trunks[0].outbound.as_ref().unwrap().password.is_some());
}

#[test]
fn secrets_never_print() {
    let inline = "[[trunks]]\nname = \"p\"\n[trunks.inbound]\nusername = \"u\"\npassword = \"inline-secret\"\n";
    for c in [
        from_str_env(TRUNK_PW_ENV, &[("CARRIER_PW", "env-secret")]).unwrap(),
        from_str(inline).unwrap(),
    ] {
        for shown in [format!("{c:?}"), format!("{c:#?}"), c.effective_toml()] {
            assert!(
                !shown.contains("env-secret") && !shown.contains("inline-secret"),
                "{shown}"
            );
            assert!(shown.contains("***"), "{shown}");
        }
    }
    // A password in the database URL is masked too.
    let c = from_str_env(
        "",
        &[("HIBIKI_DATABASE_URL", "postgres://u:db-pass@127.0.0.1/h")],
    )
    .unwrap();
    assert_eq!(c.database_url(), "postgres://u:db-pass@127.0.0.1/h");
    for shown in [format!("{c:?}"), c.effective_toml()] {
        assert!(!shown.contains("db-pass"), "{shown}");
        assert!(shown.contains("postgres://u:***@127.0.0.1/h"), "{shown}");
    }
    assert_eq!(redact_url("sqlite://./data/x.db"), "sqlite://./data/x.db");
    assert_eq!(redact_url("postgres://u@h/d"), "postgres://u@h/d");
    assert_eq!(redact_url("postgres://u:p@ss@h/d"), "postgres://u:***@h/d");

    let s = Secret::new("pw");
    assert_eq!(
        (format!("{s}"), format!("{s:?}")),
        ("***".into(), "***".into())
    );
    assert_eq!(s.expose(), "pw");
}

#[test]
fn effective_toml_reloads_to_the_same_config() {
    let c = Config::embedded_default();
    let text = c.effective_toml();
    assert!(
        text.contains("url = \"sqlite://./data/hibiki.db\""),
        "{text}"
    );
    let again = from_str(&text).unwrap();
    assert_eq!(again.database_url(), c.database_url());
    assert_eq!(again.recording_dir(), c.recording_dir());
    assert_eq!(
        (again.sip, again.http, again.trunks, again.routes),
        (c.sip, c.http, c.trunks, c.routes)
    );

    let example = from_str_env(
        EXAMPLE,
        &[("HIBIKI_SECRET_CARRIER", "a"), ("HIBIKI_SECRET_PBX", "b")],
    )
    .unwrap();
    let reloaded = from_str_env(
        &example.effective_toml(),
        &[("HIBIKI_SECRET_CARRIER", "a"), ("HIBIKI_SECRET_PBX", "b")],
    );
    // password and password_env both appear (masked): refused as ambiguous,
    // which is right: the printout is for reading, not for reuse as is.
    assert!(reloaded.is_err());
}

#[test]
fn validation_names_the_key_and_line() {
    let e = err(
        "[[trunks]]\nname = \"a\"\n[trunks.inbound]\nsources = [\"10.0.0.1\"]\n\n\
                 [[trunks]]\nname = \"a\"\n[trunks.outbound]\naddress = \"x\"\n",
    );
    assert_file_error(&e, "trunks[1].name", 7, "trunk name `a` is used twice");

    let e = err("[[trunks]]\nname = \"\"\n[trunks.outbound]\naddress = \"x\"\n");
    assert_file_error(&e, "trunks[0].name", 2, "must not be empty");

    let e = err("[[trunks]]\nname = \"lonely\"\n");
    assert_file_error(&e, "trunks[0].name", 2, "needs an `inbound` or `outbound`");

    let e = err("[[trunks]]\nname = \"t\"\n[trunks.inbound]\n");
    assert_eq!(e.key(), Some("trunks[0].inbound.sources"), "{e}");

    let e = err("[[trunks]]\nname = \"t\"\n[trunks.inbound]\nusername = \"u\"\n");
    assert_file_error(&e, "trunks[0].inbound.username", 4, "needs `password`");

    let e = err("[[trunks]]\nname = \"t\"\n[trunks.outbound]\naddress = \"x\"\npassword = \"p\"\n");
    assert_file_error(&e, "trunks[0].outbound.password", 5, "needs a `username`");

    let e = err("[[routes]]\nnumber = \"1\"\naction = \"test\"\n[[routes]]\nnumber = \"1\"\naction = \"test\"\n");
    assert_file_error(&e, "routes[1].number", 5, "used twice");

    let e = err("[[routes]]\nnumber = \"1 2\"\naction = \"test\"\n");
    assert_file_error(&e, "routes[0].number", 2, "is not a number");

    let e = err("[sip]\nt1_ms = 500\nt2_ms = 100\n");
    assert_file_error(&e, "sip.t2_ms", 3, "at least sip.t1_ms");

    let e = err("[sip]\nmax_calls = 0\n");
    assert_file_error(&e, "sip.max_calls", 2, "greater than 0");

    let e = err("[sip]\ndigest_algorithms = [\"SHA-1\"]\n");
    assert_file_error(&e, "sip.digest_algorithms", 2, "unknown algorithm `SHA-1`");

    let e = err("[media]\nport_min = 30000\nport_max = 20000\n");
    assert_file_error(&e, "media.port_max", 3, "range");

    let e = err("[sip]\ndigest_algorithms = []\n");
    assert_file_error(&e, "sip.digest_algorithms", 2, "at least one");

    let e = err("[sip]\nudp = false\ntcp = false\n");
    assert_eq!(e.key(), Some("sip.udp"));

    let e = err("[database]\nurl = \"mysql://x\"\n");
    assert_file_error(&e, "database.url", 2, "must start with");

    // A default that fails validation (t2 defaults to 4000) has no line of
    // its own: the error points at its section.
    let e = err("\n[sip]\nt1_ms = 5000\n");
    assert_eq!(e.key(), Some("sip.t2_ms"));
    assert!(e.to_string().contains("test.toml"), "{e}");

    // The embedded default is valid.
    assert!(Config::embedded_default().validate().is_ok());
    let mut bad = Config::embedded_default();
    bad.routes[0].action = RouteAction::Reject {
        status: 200,
        reason: None,
    };
    assert_eq!(bad.validate().unwrap_err().key(), Some("routes[0].status"));
}

#[test]
fn trunk_routes_need_a_trunk_with_an_outbound_side() {
    let trunks = "[[trunks]]\nname = \"in\"\n[trunks.inbound]\nsources = [\"127.0.0.1\"]\n\n\
                  [[trunks]]\nname = \"out\"\n[trunks.outbound]\naddress = \"127.0.0.1:5090\"\ncodecs = [\"pcma\"]\n\n";
    let c = from_str(&format!(
        "{trunks}[[routes]]\nnumber = \"200\"\naction = \"trunk\"\ntrunk = \"out\"\nto = \"+15551234\"\n"
    ))
    .unwrap();
    assert_eq!(
        c.routes[0].action,
        RouteAction::Trunk {
            trunk: "out".into(),
            to: Some("+15551234".into()),
            ring_timeout_seconds: 60,
        }
    );
    let out = c.trunks[1].outbound.as_ref().unwrap();
    assert_eq!(out.codecs, vec![crate::config::CodecName::Pcma]);

    let e = err(&format!(
        "{trunks}[[routes]]\nnumber = \"200\"\naction = \"trunk\"\ntrunk = \"nope\"\n"
    ));
    assert_eq!(e.key(), Some("routes[0].trunk"), "{e}");
    assert!(e.to_string().contains("no trunk is named `nope`"), "{e}");
    let e = err(&format!(
        "{trunks}[[routes]]\nnumber = \"200\"\naction = \"trunk\"\ntrunk = \"in\"\n"
    ));
    assert!(e.to_string().contains("has no [trunks.outbound]"), "{e}");
    let e = err(&format!(
        "{trunks}[[routes]]\nnumber = \"200\"\naction = \"trunk\"\ntrunk = \"out\"\nto = \"a b\"\n"
    ));
    assert_eq!(e.key(), Some("routes[0].to"), "{e}");
    let e = err(&format!(
        "{trunks}[[routes]]\nnumber = \"200\"\naction = \"trunk\"\ntrunk = \"out\"\nring_timeout_seconds = 0\n"
    ));
    assert_eq!(e.key(), Some("routes[0].ring_timeout_seconds"), "{e}");
    let e = err(
        "[[trunks]]\nname = \"out\"\n[trunks.outbound]\naddress = \"x:5060\"\ncodecs = [\"g729\"]\n",
    );
    assert!(e.to_string().contains("g729"), "{e}");
}

#[test]
fn the_token_lifetime_is_checked() {
    let e = from_str("[auth]\ntoken_ttl_seconds = 0\n").unwrap_err();
    assert_eq!(
        (e.key(), e.line()),
        (Some("auth.token_ttl_seconds"), Some(2))
    );
    assert!(e.to_string().contains("greater than 0"), "{e}");
    let e = from_str("[auth]\ntoken_ttl_seconds = 31536001\n").unwrap_err();
    assert!(e.to_string().contains("at most 31536000"), "{e}");
    from_str("[auth]\ntoken_ttl_seconds = 31536000\n").unwrap();
    let e =
        Config::load_with_env(None, env(&[("HIBIKI_AUTH_TOKEN_TTL_SECONDS", "0")])).unwrap_err();
    assert!(
        e.to_string()
            .contains("environment variable HIBIKI_AUTH_TOKEN_TTL_SECONDS"),
        "{e}"
    );
    let e =
        Config::load_with_env(None, env(&[("HIBIKI_AUTH_TOKEN_TTL_SECONDS", "soon")])).unwrap_err();
    assert_eq!(e.key(), Some("auth.token_ttl_seconds"));
    assert!(
        from_str("[auth]\nttl = 5\n").is_err(),
        "unknown keys are refused"
    );
}

#[test]
fn the_customers_region_is_checked() {
    assert_eq!(
        from_str("[customers]\ndefault_region = \"gb\"\n")
            .unwrap()
            .customers
            .default_region,
        "gb"
    );
    let e = from_str("[customers]\ndefault_region = \"XX\"\n").unwrap_err();
    assert_eq!(
        (e.key(), e.line()),
        (Some("customers.default_region"), Some(2))
    );
    assert!(e.to_string().contains("JP, US"), "{e}");
    let c = Config::load_with_env(None, env(&[("HIBIKI_CUSTOMERS_DEFAULT_REGION", "FR")])).unwrap();
    assert_eq!(c.customers.default_region, "FR");
    let e = Config::load_with_env(None, env(&[("HIBIKI_CUSTOMERS_DEFAULT_REGION", "Japan")]))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("environment variable HIBIKI_CUSTOMERS_DEFAULT_REGION"),
        "{e}"
    );
    assert!(
        from_str("[customers]\nregion = \"JP\"\n").is_err(),
        "unknown keys are refused"
    );
}

#[test]
fn the_softphone_section_is_read_checked_and_overridable() {
    let c = from_str(
        "[softphone]\nbind_ip = \"10.0.0.5\"\npublic_ip = \"203.0.113.7\"\n\
         port_min = 40000\nport_max = 40099\nstun = [\"stun:stun.example.net:3478\"]\n\
         [[softphone.turn]]\nurl = \"turn:turn.example.net:3478\"\nusername = \"u\"\ncredential = \"p\"\n",
    )
    .unwrap();
    assert_eq!(c.softphone.bind_ip.to_string(), "10.0.0.5");
    assert_eq!(
        c.softphone.public_ip.map(|ip| ip.to_string()).as_deref(),
        Some("203.0.113.7")
    );
    assert_eq!((c.softphone.port_min, c.softphone.port_max), (40000, 40099));
    assert_eq!(c.softphone.turn[0].credential.expose(), "p");
    assert_eq!(format!("{:?}", c.softphone.turn[0].credential), "***");

    let defaults = from_str("").unwrap().softphone;
    assert_eq!(
        (defaults.port_min, defaults.port_max),
        (0, 0),
        "any port by default"
    );

    let e = err("[softphone]\nport_min = 5\nport_max = 4\n");
    assert_eq!(e.key(), Some("softphone.port_max"), "{e}");
    let e = err("[softphone]\nstun = [\"turn:x\"]\n");
    assert_eq!(e.key(), Some("softphone.stun"), "{e}");
    assert!(
        from_str("[softphone]\nbind = \"1.2.3.4\"\n").is_err(),
        "unknown keys are refused"
    );

    let c = Config::load_with_env(
        None,
        env(&[
            ("HIBIKI_SOFTPHONE_PUBLIC_IP", "198.51.100.1"),
            ("HIBIKI_SOFTPHONE_STUN", "stun:a:3478, stun:b:3478"),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.softphone.public_ip.map(|ip| ip.to_string()).as_deref(),
        Some("198.51.100.1")
    );
    assert_eq!(c.softphone.stun, vec!["stun:a:3478", "stun:b:3478"]);
}

#[test]
fn a_queue_offering_callbacks_needs_a_trunk_to_dial_them() {
    let e = err("[[queues]]\nname = \"support\"\ncallback_offer_seconds = 30\n");
    assert_eq!(e.key(), Some("queues[0].callback_offer_seconds"), "{e}");
    assert!(e.to_string().contains("agents.transfer_trunk"), "{e}");
    let e = err("[[queues]]\nname = \"support\"\ncallback_attempts = 0\n");
    assert_eq!(e.key(), Some("queues[0].callback_attempts"), "{e}");
    let e = err("[[queues]]\nname = \"support\"\ncallback_retry_seconds = 0\n");
    assert_eq!(e.key(), Some("queues[0].callback_retry_seconds"), "{e}");
}

#[test]
fn kernel_forwarding_is_off_unless_asked_and_needs_the_plane_when_on() {
    let c = from_str("").unwrap();
    assert_eq!(c.media.kernel_forwarding, KernelForwarding::Off);
    assert!(c.media.kernel_interfaces.is_empty());
    let c = from_str("[media]\nkernel_forwarding = \"auto\"\nkernel_interfaces = [\"eth0\"]\n")
        .unwrap();
    assert_eq!(c.media.kernel_forwarding, KernelForwarding::Auto);
    assert_eq!(c.media.kernel_interfaces, vec!["eth0".to_string()]);
    let c = from_str_env(
        "",
        &[
            ("HIBIKI_MEDIA_KERNEL_FORWARDING", "on"),
            ("HIBIKI_MEDIA_KERNEL_INTERFACES", "lo, eth1"),
        ],
    )
    .unwrap();
    assert_eq!(c.media.kernel_forwarding, KernelForwarding::On);
    assert_eq!(
        c.media.kernel_interfaces,
        vec!["lo".to_string(), "eth1".to_string()]
    );
    let e = err_env("", &[("HIBIKI_MEDIA_KERNEL_FORWARDING", "maybe")]);
    assert!(e.to_string().contains("not one of off, on, auto"), "{e}");
    let e = err("[media]\nkernel_forwarding = \"on\"\nworkers = 0\n");
    assert_eq!(e.key(), Some("media.kernel_forwarding"), "{e}");
    assert!(e.to_string().contains("media.workers"), "{e}");
}
