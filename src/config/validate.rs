//! Checks of what the types cannot say. Each failure is `(key, reason)`;
//! the loader turns the key into a file line or an environment variable.
//! Whether a route's IVR flow exists is not checked here (it needs the
//! flow files): the server checks it at start (`crate::ivr::registry`).

use std::collections::HashSet;

use super::{Config, RouteAction};

type Check = Result<(), (String, String)>;

/// The longest token lifetime accepted: a year. Longer is a mistake (a
/// token that outlives the people holding it), and it keeps the expiry in
/// milliseconds far from overflow.
const MAX_TOKEN_TTL_SECONDS: u64 = 365 * 24 * 3600;

fn fail(key: impl Into<String>, reason: impl Into<String>) -> Check {
    Err((key.into(), reason.into()))
}

/// Characters allowed in a route number: dial-string characters and the
/// RFC 3261 user-part characters (unreserved, user-unreserved, escapes).
fn is_number_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "*#+-_.!~'()&=$,;?/%".contains(c)
}

/// A flow name, as a flow file's stem: letters, digits, `_`, `-`.
fn is_flow_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `[softphone]`: a usable port range, timeouts, STUN/TURN URL schemes.
fn check_softphone(s: &crate::softphone::SoftphoneConfig) -> Check {
    let any_port = s.port_min == 0 && s.port_max == 0;
    if !any_port && (s.port_min == 0 || s.port_max < s.port_min) {
        fail(
            "softphone.port_max",
            format!(
                "the softphone port range {}..={} is empty (both 0 for any port, else 0 < port_min <= port_max)",
                s.port_min, s.port_max
            ),
        )?;
    }
    if s.connect_timeout_ms == 0 {
        fail("softphone.connect_timeout_ms", "must be greater than 0")?;
    }
    if s.gather_timeout_ms == 0 {
        fail("softphone.gather_timeout_ms", "must be greater than 0")?;
    }
    for url in &s.stun {
        if !(url.starts_with("stun:") || url.starts_with("stuns:")) {
            fail(
                "softphone.stun",
                format!("`{url}` must start with stun: or stuns:"),
            )?;
        }
    }
    for turn in &s.turn {
        if !(turn.url.starts_with("turn:") || turn.url.starts_with("turns:")) {
            fail(
                "softphone.turn",
                format!("`{}` must start with turn: or turns:", turn.url),
            )?;
        }
    }
    Ok(())
}

/// The first problem found, in file order.
pub(super) fn check(c: &Config) -> Check {
    if c.node.id.trim().is_empty() {
        fail("node.id", "must not be empty")?;
    }
    if !c.sip.udp && !c.sip.tcp {
        fail(
            "sip.udp",
            "at least one of `sip.udp` and `sip.tcp` must be true",
        )?;
    }
    if let Some(public) = &c.sip.public_address {
        if public.is_empty() || public.contains(char::is_whitespace) {
            fail("sip.public_address", "must be host[:port] without spaces")?;
        }
    }
    if c.sip.realm.is_empty()
        || c.sip
            .realm
            .contains(|ch: char| ch.is_control() || ch == '"')
    {
        fail(
            "sip.realm",
            "must be non-empty, without quotes or control characters",
        )?;
    }
    if c.sip.user_agent.contains(char::is_control) {
        fail("sip.user_agent", "must not contain control characters")?;
    }
    if c.sip.t1_ms == 0 {
        fail("sip.t1_ms", "must be greater than 0")?;
    }
    if c.sip.t2_ms < c.sip.t1_ms {
        fail(
            "sip.t2_ms",
            format!("must be at least sip.t1_ms ({})", c.sip.t1_ms),
        )?;
    }
    if c.sip.max_calls == 0 {
        fail("sip.max_calls", "must be greater than 0")?;
    }
    if c.media.port_min == 0 || c.media.port_max < c.media.port_min {
        fail(
            "media.port_max",
            format!(
                "the RTP port range {}..={} is empty (port_min must be > 0 and <= port_max)",
                c.media.port_min, c.media.port_max
            ),
        )?;
    }
    if c.media.workers > 64 {
        fail(
            "media.workers",
            "must be at most 64 (about one per 1,000 bridged calls)",
        )?;
    }
    if c.media.kernel_forwarding == crate::config::KernelForwarding::On && c.media.workers == 0 {
        fail(
            "media.kernel_forwarding",
            "\"on\" needs the media plane (media.workers at least 1): its workers run the forwarder",
        )?;
    }
    if c.sip.digest_algorithms.is_empty() {
        fail("sip.digest_algorithms", "must list at least one algorithm")?;
    }
    for a in &c.sip.digest_algorithms {
        if hibiki_sip::auth::Algorithm::from_token(a).is_none() {
            fail(
                "sip.digest_algorithms",
                format!("unknown algorithm `{a}` (known: SHA-256, SHA-256-sess, MD5, MD5-sess)"),
            )?;
        }
    }
    if let Some(url) = &c.database.url {
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if !known.iter().any(|p| url.starts_with(p)) {
            fail(
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://",
            )?;
        }
    }
    if c.database.max_connections == 0 {
        fail("database.max_connections", "must be greater than 0")?;
    }
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&c.log.level) {
        fail("log.level", format!("not a valid log filter: {e}"))?;
    }
    check_softphone(&c.softphone)?;
    if c.auth.token_ttl_seconds == 0 {
        fail("auth.token_ttl_seconds", "must be greater than 0")?;
    }
    if c.auth.token_ttl_seconds > MAX_TOKEN_TTL_SECONDS {
        fail(
            "auth.token_ttl_seconds",
            format!("must be at most {MAX_TOKEN_TTL_SECONDS} (one year)"),
        )?;
    }
    if crate::customer::region(&c.customers.default_region).is_none() {
        let known: Vec<&str> = crate::customer::REGIONS.iter().map(|r| r.code).collect();
        fail(
            "customers.default_region",
            format!(
                "unknown region {:?} (known: {})",
                c.customers.default_region,
                known.join(", ")
            ),
        )?;
    }
    if let Some(url) = &c.crm.url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            fail("crm.url", "must be an http:// or https:// URL")?;
        }
    }
    if !(1..=5_000).contains(&c.crm.timeout_ms) {
        fail(
            "crm.timeout_ms",
            "must be 1 to 5000 (the pop waits that long at most)",
        )?;
    }
    check_trunks(c)?;
    check_routes(c)?;
    check_queues(c)
}

fn check_trunks(c: &Config) -> Check {
    let mut names = HashSet::new();
    for (i, trunk) in c.trunks.iter().enumerate() {
        let at = format!("trunks[{i}]");
        if trunk.name.trim().is_empty() {
            fail(format!("{at}.name"), "must not be empty")?;
        }
        if !names.insert(trunk.name.as_str()) {
            fail(
                format!("{at}.name"),
                format!("trunk name `{}` is used twice", trunk.name),
            )?;
        }
        if trunk.inbound.is_none() && trunk.outbound.is_none() {
            fail(
                format!("{at}.name"),
                format!(
                    "trunk `{}` needs an `inbound` or `outbound` table",
                    trunk.name
                ),
            )?;
        }
        if let Some(inbound) = &trunk.inbound {
            let at = format!("{at}.inbound");
            credentials(&at, &inbound.username, inbound.password.is_some())?;
            if inbound.sources.is_empty() && inbound.username.is_none() {
                fail(
                    format!("{at}.sources"),
                    "an inbound trunk needs `sources`, or `username` and a password",
                )?;
            }
        }
        if let Some(outbound) = &trunk.outbound {
            let at = format!("{at}.outbound");
            credentials(&at, &outbound.username, outbound.password.is_some())?;
            let address = &outbound.address;
            if address.is_empty() || address.contains(char::is_whitespace) {
                fail(
                    format!("{at}.address"),
                    "must be host[:port] without spaces",
                )?;
            }
        }
    }
    Ok(())
}

/// A username needs a password and a password needs a username.
fn credentials(at: &str, username: &Option<String>, has_password: bool) -> Check {
    match (username, has_password) {
        (Some(u), _) if u.is_empty() || u.contains(char::is_control) => fail(
            format!("{at}.username"),
            "must be non-empty, without control characters",
        ),
        (Some(_), false) => fail(
            format!("{at}.username"),
            "a username needs `password` or `password_env`",
        ),
        (None, true) => fail(format!("{at}.password"), "a password needs a `username`"),
        _ => Ok(()),
    }
}

fn check_routes(c: &Config) -> Check {
    let mut numbers = HashSet::new();
    for (i, route) in c.routes.iter().enumerate() {
        let at = format!("routes[{i}]");
        if route.number.is_empty() || !route.number.chars().all(is_number_char) {
            fail(
                format!("{at}.number"),
                format!(
                    "`{}` is not a number: use digits, * # + or SIP user-part characters",
                    route.number
                ),
            )?;
        }
        if !numbers.insert(route.number.as_str()) {
            fail(
                format!("{at}.number"),
                format!("route number `{}` is used twice", route.number),
            )?;
        }
        if let RouteAction::Reject { status, reason } = &route.action {
            if !(400..=699).contains(status) {
                fail(
                    format!("{at}.status"),
                    format!("{status} is not a failure status (400..=699)"),
                )?;
            }
            if reason
                .as_deref()
                .is_some_and(|r| r.contains(char::is_control))
            {
                fail(
                    format!("{at}.reason"),
                    "must not contain control characters",
                )?;
            }
        }
        if let RouteAction::Ivr { flow } = &route.action {
            if !is_flow_name(flow) {
                fail(
                    format!("{at}.flow"),
                    format!(
                        "`{flow}` is not a flow name: use letters, digits, `_` and `-` \
                         (the flow file's name without .toml)"
                    ),
                )?;
            }
        }
        if let RouteAction::Trunk {
            trunk,
            to,
            ring_timeout_seconds,
        } = &route.action
        {
            outbound_trunk(c, format!("{at}.trunk"), trunk)?;
            if let Some(to) = to {
                if to.is_empty() || !to.chars().all(is_number_char) {
                    fail(
                        format!("{at}.to"),
                        format!(
                            "`{to}` is not a number: use digits, * # + or SIP user-part characters"
                        ),
                    )?;
                }
            }
            if *ring_timeout_seconds == 0 {
                fail(format!("{at}.ring_timeout_seconds"), "must be at least 1")?;
            }
        }
    }
    Ok(())
}

fn check_queues(c: &Config) -> Check {
    let names: HashSet<&str> = c.queues.iter().map(|q| q.name.as_str()).collect();
    let mut seen = HashSet::new();
    for (i, q) in c.queues.iter().enumerate() {
        let at = format!("queues[{i}]");
        if !is_flow_name(&q.name) {
            fail(
                format!("{at}.name"),
                "use letters, digits, `_` and `-` (what flows' queue steps name)",
            )?;
        }
        if !seen.insert(q.name.as_str()) {
            fail(
                format!("{at}.name"),
                format!("queue name `{}` is used twice", q.name),
            )?;
        }
        if q.ring_seconds == 0 {
            fail(format!("{at}.ring_seconds"), "must be > 0")?;
        }
        for (j, s) in q.skills.iter().enumerate() {
            if s.name.trim().is_empty() {
                fail(format!("{at}.skills[{j}].name"), "must not be empty")?;
            }
            if !(1..=10).contains(&s.min_level) {
                fail(format!("{at}.skills[{j}].min_level"), "must be 1 to 10")?;
            }
        }
        match (&q.overflow_queue, q.overflow_after_seconds) {
            (Some(to), _) if !names.contains(to.as_str()) => fail(
                format!("{at}.overflow_queue"),
                format!("no queue is named `{to}`"),
            )?,
            (Some(to), _) if to == &q.name => fail(
                format!("{at}.overflow_queue"),
                "a queue cannot overflow to itself",
            )?,
            (Some(_), 0) => fail(
                format!("{at}.overflow_after_seconds"),
                "must be > 0 when `overflow_queue` is set",
            )?,
            (None, n) if n > 0 => fail(
                format!("{at}.overflow_queue"),
                "`overflow_after_seconds` needs an `overflow_queue`",
            )?,
            _ => {}
        }
        if q.music.is_empty() {
            fail(format!("{at}.music"), "must name a prompt")?;
        }
        if !(1..=10).contains(&q.callback_attempts) {
            fail(format!("{at}.callback_attempts"), "must be 1 to 10")?;
        }
        if q.callback_retry_seconds == 0 {
            fail(format!("{at}.callback_retry_seconds"), "must be > 0")?;
        }
        if q.callback_offer_seconds > 0 && c.agents.transfer_trunk.is_none() {
            fail(
                format!("{at}.callback_offer_seconds"),
                "callbacks dial through `agents.transfer_trunk`: set it, or set this to 0",
            )?;
        }
    }
    if c.agents.dispositions.is_empty() {
        fail("agents.dispositions", "list at least one disposition code")?;
    }
    if let Some(trunk) = &c.agents.transfer_trunk {
        outbound_trunk(c, "agents.transfer_trunk".into(), trunk)?;
    }
    Ok(())
}

/// `trunk` (named at `key`) must exist and have an outbound side.
fn outbound_trunk(c: &Config, key: String, trunk: &str) -> Check {
    match c.trunks.iter().find(|t| t.name == trunk) {
        None => fail(key, format!("no trunk is named `{trunk}`")),
        Some(t) if t.outbound.is_none() => fail(
            key,
            format!(
                "trunk `{trunk}` has no [trunks.outbound] table: calls cannot be placed through it"
            ),
        ),
        Some(_) => Ok(()),
    }
}
