//! Published vectors, round trips and refusals.

use super::*;

const SECRET: &[u8] = b"test secret, not for production";
const REALM: &str = "hibiki";

/// RFC 2617 §3.5: the worked example (MD5, qop=auth).
#[test]
fn rfc2617_worked_example() {
    let header = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    let creds: Credentials = header.parse().unwrap();
    assert_eq!(creds.username, "Mufasa");
    assert_eq!(creds.nc, Some(1));
    assert_eq!(creds.algorithm(), Algorithm::Md5);
    assert!(creds.response_matches("GET", "Circle Of Life"));
    assert!(!creds.response_matches("GET", "Circle of Life"));
    assert!(!creds.response_matches("POST", "Circle Of Life"));

    let challenge: Challenge = r#"Digest
                 realm="testrealm@host.com",
                 qop="auth,auth-int",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#
        .parse()
        .unwrap();
    assert_eq!(challenge.qop, vec!["auth", "auth-int"]);
    let answer = respond(
        &challenge,
        "GET",
        "/dir/index.html",
        "Mufasa",
        "Circle Of Life",
        "0a4f113b",
        1,
    );
    assert_eq!(answer.response, "6629fae49393a05397450978507c4ef1");
    assert_eq!(answer.qop.as_deref(), Some("auth"));
    assert_eq!(answer.opaque, challenge.opaque);
}

/// RFC 7616 §3.9.1: the same request with SHA-256 and with MD5.
#[test]
fn rfc7616_sha256_and_md5_vectors() {
    let challenge = |alg: &str| -> Challenge {
        format!(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg},
               nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
               opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
        )
        .parse()
        .unwrap()
    };
    let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    let sha = respond(
        &challenge("SHA-256"),
        "GET",
        "/dir/index.html",
        "Mufasa",
        "Circle of Life",
        cnonce,
        1,
    );
    assert_eq!(
        sha.response,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    assert_eq!(sha.algorithm, Some(Algorithm::Sha256));
    let md5 = respond(
        &challenge("MD5"),
        "GET",
        "/dir/index.html",
        "Mufasa",
        "Circle of Life",
        cnonce,
        1,
    );
    assert_eq!(md5.response, "8ca523f5e9506fed4657c9700eebdbec");

    // The credentials as RFC 7616 prints them parse and check.
    let printed: Credentials = r#"Digest username="Mufasa", realm="http-auth@example.org",
        uri="/dir/index.html", algorithm=SHA-256,
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001,
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth,
        response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
        .parse()
        .unwrap();
    assert_eq!(
        printed,
        Credentials {
            other: vec![],
            ..sha
        }
    );
    assert!(printed.response_matches("GET", "Circle of Life"));
}

#[test]
fn rfc2069_form_without_qop() {
    let challenge: Challenge = r#"Digest realm="r", nonce="n""#.parse().unwrap();
    let creds = respond(&challenge, "INVITE", "sip:100@h", "u", "p", "c", 1);
    assert_eq!(creds.qop, None);
    assert_eq!(creds.nc, None);
    assert_eq!(creds.cnonce, None);
    let ha1 = hex::encode(Md5::digest(b"u:r:p"));
    let ha2 = hex::encode(Md5::digest(b"INVITE:sip:100@h"));
    let want = hex::encode(Md5::digest(format!("{ha1}:n:{ha2}").as_bytes()));
    assert_eq!(creds.response, want);
    assert!(creds.response_matches("INVITE", "p"));
}

fn round_trip(algorithm: Algorithm) {
    let issuer = NonceIssuer::new(SECRET, 30_000);
    let now = 1_700_000_000_000;
    let challenge = issuer.challenge(REALM, algorithm, now);
    // Over the wire and back.
    let challenge: Challenge = challenge.to_string().parse().unwrap();
    let creds = respond(
        &challenge,
        "INVITE",
        "sip:100@127.0.0.1",
        "alice",
        "s3cr\"et",
        "abc123",
        1,
    );
    let creds: Credentials = creds.to_string().parse().unwrap();
    assert_eq!(creds.algorithm(), algorithm);
    issuer
        .verify(&creds, "INVITE", "alice", "s3cr\"et", REALM, now + 1_000)
        .unwrap();
    assert_eq!(
        issuer.verify(&creds, "INVITE", "alice", "wrong", REALM, now + 1_000),
        Err(AuthError::WrongResponse)
    );
    assert_eq!(
        issuer.verify(&creds, "BYE", "alice", "s3cr\"et", REALM, now + 1_000),
        Err(AuthError::WrongResponse)
    );
}

#[test]
fn round_trip_every_algorithm() {
    for algorithm in [
        Algorithm::Md5,
        Algorithm::Md5Sess,
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
    ] {
        round_trip(algorithm);
    }
}

fn fresh_credentials(issuer: &NonceIssuer, now: u64, algorithm: Algorithm) -> Credentials {
    let challenge = issuer.challenge(REALM, algorithm, now);
    respond(&challenge, "INVITE", "sip:100@h", "alice", "pw", "cn", 1)
}

#[test]
fn wrong_realm_and_username_refused() {
    let issuer = NonceIssuer::new(SECRET, 30_000);
    let creds = fresh_credentials(&issuer, 0, Algorithm::Sha256);
    assert_eq!(
        issuer.verify(&creds, "INVITE", "alice", "pw", "other", 0),
        Err(AuthError::WrongRealm)
    );
    assert_eq!(
        issuer.verify(&creds, "INVITE", "bob", "pw", REALM, 0),
        Err(AuthError::WrongUsername)
    );
    // Same password, realm spoofed in the credentials: the hash covers the
    // realm, so rewriting it is not enough.
    let mut forged = creds.clone();
    forged.realm = "other".into();
    assert_eq!(
        issuer.verify(&forged, "INVITE", "alice", "pw", "other", 0),
        Err(AuthError::WrongResponse)
    );
}

#[test]
fn expired_nonce_is_stale_only_when_response_is_right() {
    let issuer = NonceIssuer::new(SECRET, 30_000);
    let creds = fresh_credentials(&issuer, 1_000, Algorithm::Sha256);
    assert_eq!(
        issuer.verify(&creds, "INVITE", "alice", "pw", REALM, 31_000),
        Ok(())
    );
    let late = issuer.verify(&creds, "INVITE", "alice", "pw", REALM, 31_001);
    assert_eq!(late, Err(AuthError::Stale));
    assert!(late.unwrap_err().is_stale());
    assert_eq!(
        issuer.verify(&creds, "INVITE", "alice", "bad", REALM, 31_001),
        Err(AuthError::WrongResponse)
    );
    assert_eq!(
        issuer.check_nonce(&creds.nonce, Algorithm::Sha256, 31_001),
        Err(AuthError::Stale)
    );
    assert_eq!(
        issuer.check_nonce(&creds.nonce, Algorithm::Sha256, 2_000),
        Ok(())
    );
    // A stale challenge says so on the wire.
    let mut again = issuer.challenge(REALM, Algorithm::Sha256, 31_001);
    again.stale = true;
    let again: Challenge = again.to_string().parse().unwrap();
    assert!(again.stale);
}

#[test]
fn tampered_or_foreign_nonce_refused() {
    let issuer = NonceIssuer::new(SECRET, 30_000);
    let creds = fresh_credentials(&issuer, 5_000, Algorithm::Md5);

    // Moving the timestamp forward to dodge expiry breaks the MAC.
    let mut later = creds.clone();
    later.nonce = format!("{:016x}{}", 90_000u64, &creds.nonce[16..]);
    let later = respond(
        &Challenge {
            nonce: later.nonce,
            ..issuer.challenge(REALM, Algorithm::Md5, 0)
        },
        "INVITE",
        "sip:100@h",
        "alice",
        "pw",
        "cn",
        1,
    );
    assert_eq!(
        issuer.verify(&later, "INVITE", "alice", "pw", REALM, 100_000),
        Err(AuthError::InvalidNonce)
    );

    // A nonce minted by another key.
    let other = NonceIssuer::new(b"another key", 30_000);
    let foreign = fresh_credentials(&other, 5_000, Algorithm::Md5);
    assert_eq!(
        issuer.verify(&foreign, "INVITE", "alice", "pw", REALM, 5_000),
        Err(AuthError::InvalidNonce)
    );

    // Garbage of every shape.
    for bad in [
        "",
        "zz",
        &"0".repeat(80),
        &"é".repeat(40),
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
    ] {
        assert_eq!(
            issuer.check_nonce(bad, Algorithm::Md5, 5_000),
            Err(AuthError::InvalidNonce),
            "{bad:?}"
        );
    }
}

#[test]
fn algorithm_downgrade_refused() {
    let issuer = NonceIssuer::new(SECRET, 30_000);
    // Challenged with SHA-256, answered with MD5 on the same nonce.
    let challenge = issuer.challenge(REALM, Algorithm::Sha256, 0);
    let downgraded = Challenge {
        algorithm: Some(Algorithm::Md5),
        ..challenge
    };
    let creds = respond(&downgraded, "INVITE", "sip:100@h", "alice", "pw", "cn", 1);
    assert_eq!(
        issuer.verify(&creds, "INVITE", "alice", "pw", REALM, 0),
        Err(AuthError::InvalidNonce)
    );
}

#[test]
fn qop_is_required_by_the_server() {
    let issuer = NonceIssuer::new(SECRET, 30_000);
    let mut challenge = issuer.challenge(REALM, Algorithm::Md5, 0);
    challenge.qop.clear();
    let creds = respond(&challenge, "INVITE", "sip:100@h", "alice", "pw", "cn", 1);
    assert!(creds.response_matches("INVITE", "pw"));
    assert_eq!(
        issuer.verify(&creds, "INVITE", "alice", "pw", REALM, 0),
        Err(AuthError::UnsupportedQop(String::new()))
    );
    let mut int = fresh_credentials(&issuer, 0, Algorithm::Md5);
    int.qop = Some("auth-int".into());
    assert_eq!(
        issuer.verify(&int, "INVITE", "alice", "pw", REALM, 0),
        Err(AuthError::UnsupportedQop("auth-int".into()))
    );
    let mut no_nc = fresh_credentials(&issuer, 0, Algorithm::Md5);
    no_nc.nc = None;
    assert_eq!(
        issuer.verify(&no_nc, "INVITE", "alice", "pw", REALM, 0),
        Err(AuthError::MissingParam("nc"))
    );
}

#[test]
fn parsing_is_case_insensitive_and_handles_escapes() {
    let c: Challenge =
        r#"digest REALM="a \"quoted\" \\ realm",NONCE=abc/def=,Algorithm=sha-256,  STALE=true, x-ext="1 2""#
            .parse()
            .unwrap();
    assert_eq!(c.realm, r#"a "quoted" \ realm"#);
    assert_eq!(c.nonce, "abc/def=");
    assert_eq!(c.algorithm, Some(Algorithm::Sha256));
    assert!(c.stale);
    assert_eq!(c.other, vec![("x-ext".to_owned(), "1 2".to_owned())]);
    // Written and read back unchanged.
    let again: Challenge = c.to_string().parse().unwrap();
    assert_eq!(again, c);
    assert!(c.to_string().contains("algorithm=SHA-256"));
}

#[test]
fn malformed_headers_refused_without_panic() {
    let cases: &[(&str, AuthError)] = &[
        (
            r#"Basic realm="x""#,
            AuthError::UnsupportedScheme("Basic".into()),
        ),
        (r#"Digest nonce="n""#, AuthError::MissingParam("realm")),
        (r#"Digest realm="r""#, AuthError::MissingParam("nonce")),
        (
            r#"Digest realm="r", nonce="n", algorithm=SHA-512-256"#,
            AuthError::UnsupportedAlgorithm("SHA-512-256".into()),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(input.parse::<Challenge>().as_ref(), Err(want), "{input}");
    }
    for input in [
        "",
        "Digest",
        r#"Digest realm="unterminated"#,
        r#"Digest realm="r", realm="again", nonce="n""#,
        r#"Digest realm"#,
        r#"Digest realm=, nonce=n"#,
        r#"Digest realm="r" nonce="n""#,
        "Digest realm=\"a\rb\", nonce=n",
        r#"Digest realm="r\"#,
        r#"Digest re@lm="r", nonce=n"#,
    ] {
        assert!(input.parse::<Challenge>().is_err(), "{input:?}");
    }
    let base = r#"Digest username="u", realm="r", nonce="n", uri="sip:a@b", response="0a""#;
    assert!(base.parse::<Credentials>().is_ok());
    for extra in [", nc=1", ", nc=zzzzzzzz", ", nc=000000001"] {
        assert!(
            format!("{base}{extra}").parse::<Credentials>().is_err(),
            "{extra}"
        );
    }
    assert_eq!(
        r#"Digest username="u", realm="r", nonce="n", uri="u""#.parse::<Credentials>(),
        Err(AuthError::MissingParam("response"))
    );
    assert!(
        r#"Digest username="u", realm="r", nonce="n", uri="u", response="xyz""#
            .parse::<Credentials>()
            .is_err()
    );
}

#[test]
fn writing_never_emits_control_characters() {
    let c = Challenge {
        realm: "evil\r\nVia: injected".into(),
        ..NonceIssuer::new(SECRET, 1).challenge("r", Algorithm::Md5, 0)
    };
    let written = c.to_string();
    assert!(
        !written.contains('\r') && !written.contains('\n'),
        "{written}"
    );
}

#[test]
fn one_401_offers_sha256_then_md5_and_either_answer_verifies() {
    let issuer = NonceIssuer::new([7u8; 32], 30_000);
    let offered = issuer.challenges(REALM, 7, true);
    let algorithms: Vec<Algorithm> = offered.iter().map(Challenge::algorithm).collect();
    assert_eq!(algorithms, [Algorithm::Sha256, Algorithm::Md5]);
    assert!(offered.iter().all(|c| c.stale));
    for challenge in &offered {
        let wire = respond(
            &Challenge::parse(&challenge.to_string()).unwrap(),
            "REGISTER",
            "sip:h",
            "alice",
            "pw",
            "c",
            3,
        )
        .to_string();
        let creds = Credentials::parse(&wire).unwrap();
        assert_eq!(creds.nc, Some(3));
        assert_eq!(
            issuer.verify(&creds, "REGISTER", "alice", "pw", REALM, 8),
            Ok(())
        );
    }
}
