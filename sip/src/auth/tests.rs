//! Tests of RFC 3261 §22 / RFC 7616 / RFC 8760 digest answers, against the RFCs' vectors.

#![allow(clippy::unwrap_used)]

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

fn mufasa(password: &str) -> Credentials {
    Credentials {
        username: "Mufasa".into(),
        password: password.into(),
    }
}

fn bob() -> Credentials {
    Credentials {
        username: "bob".into(),
        password: "zanzibar".into(),
    }
}

/// A SIP challenge in the shape of RFC 3261 §22.2's example, with the given extras.
fn biloxi(extra: &str) -> Challenge {
    Challenge::parse(&format!(
        r#"Digest realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"{extra}"#
    ))
    .unwrap()
}

/// Reads `name=value` out of an authorization value we wrote (quotes kept).
fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let rest = value.strip_prefix("Digest ")?;
    rest.split(", ")
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
}

/// RFC 2617 §3.5: the worked example, response 6629fae4….
#[test]
fn rfc2617_example_response_matches() {
    let ch = Challenge::parse(
        "Digest\r\n        realm=\"testrealm@host.com\",\r\n        qop=\"auth,auth-int\",\r\n        \
         nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n        opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    )
    .unwrap();
    let v = authorize(
        &ch,
        &mufasa("Circle Of Life"),
        "GET",
        "/dir/index.html",
        b"",
        "0a4f113b",
        1,
    )
    .unwrap();
    assert_eq!(
        v,
        "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
         nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
         response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, cnonce=\"0a4f113b\", \
         qop=auth, nc=00000001, opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""
    );
}

const RFC7616_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC7616_OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

fn rfc7616_challenges() -> Vec<Challenge> {
    ["SHA-256", "MD5"]
        .iter()
        .map(|alg| {
            Challenge::parse(&format!(
                "Digest\n    realm=\"http-auth@example.org\",\n    qop=\"auth, auth-int\",\n    \
                 algorithm={alg},\n    nonce=\"{RFC7616_NONCE}\",\n    opaque=\"{RFC7616_OPAQUE}\""
            ))
            .unwrap()
        })
        .collect()
}

/// RFC 7616 §3.9.1: the MD5 answer, response 8ca523f5….
#[test]
fn rfc7616_md5_example_response_matches() {
    let chs = rfc7616_challenges();
    let v = authorize(
        &chs[1],
        &mufasa("Circle of Life"),
        "GET",
        "/dir/index.html",
        b"",
        RFC7616_CNONCE,
        1,
    )
    .unwrap();
    assert_eq!(
        param(&v, "response"),
        Some("\"8ca523f5e9506fed4657c9700eebdbec\"")
    );
    assert_eq!(param(&v, "algorithm"), Some("MD5"));
    assert_eq!(param(&v, "opaque"), Some(&*format!("\"{RFC7616_OPAQUE}\"")));
}

/// RFC 7616 §3.9.1: the SHA-256 answer, response 753927fa….
#[test]
fn rfc7616_sha256_example_response_matches() {
    let chs = rfc7616_challenges();
    let v = authorize(
        &chs[0],
        &mufasa("Circle of Life"),
        "GET",
        "/dir/index.html",
        b"",
        RFC7616_CNONCE,
        1,
    )
    .unwrap();
    assert_eq!(
        param(&v, "response"),
        Some("\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\"")
    );
    assert_eq!(param(&v, "algorithm"), Some("SHA-256"));
    assert_eq!(param(&v, "nc"), Some("00000001"));
    assert_eq!(param(&v, "qop"), Some("auth"));
    assert_eq!(param(&v, "uri"), Some("\"/dir/index.html\""));
}

/// RFC 7616 §3.9.2's inputs without userhash. The printed values of §3.9.2
/// do not reproduce from its stated inputs, so the expected response was
/// computed independently with OpenSSL's SHA-512/256 (Python hashlib).
#[test]
fn sha512_256_response_matches_openssl() {
    let ch = Challenge::parse(
        "Digest realm=\"api@example.org\", qop=\"auth\", algorithm=SHA-512-256, \
         nonce=\"5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK\", \
         opaque=\"HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS\", charset=UTF-8, userhash=true",
    )
    .unwrap();
    assert!(ch.userhash);
    let creds = Credentials {
        username: "J\u{e4}s\u{f8}n Doe".into(),
        password: "Secret, or not?".into(),
    };
    let v = authorize(
        &ch,
        &creds,
        "GET",
        "/doe.json",
        b"",
        "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
        1,
    )
    .unwrap();
    assert_eq!(
        param(&v, "response"),
        Some("\"3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5\"")
    );
    // RFC 7616 §3.4.4: we answer with the plain username even when userhash is offered.
    assert_eq!(param(&v, "username"), Some("\"J\u{e4}s\u{f8}n Doe\""));
}

/// RFC 2069 §2.4's example (RFC 2617 §3.2.2.1 keeps its formula): a
/// challenge without qop gets a response without qop, cnonce or nc.
#[test]
fn challenge_without_qop_gets_rfc2069_response() {
    let ch = Challenge::parse(
        r#"Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
    )
    .unwrap();
    let v = authorize(
        &ch,
        &mufasa("CircleOfLife"),
        "GET",
        "/dir/index.html",
        b"",
        "",
        0,
    )
    .unwrap();
    assert_eq!(
        param(&v, "response"),
        Some("\"1949323746fe6a43ef61f9606e7febea\"")
    );
    // RFC 3261 §22.4 item 8: no cnonce without qop.
    assert_eq!(param(&v, "cnonce"), None);
    assert_eq!(param(&v, "qop"), None);
    assert_eq!(param(&v, "nc"), None);
}

// The vectors below were cross-checked with Python's hashlib (OpenSSL),
// an implementation independent of the RustCrypto crates used here.

/// RFC 7616 §3.4.2: `-sess` hashes H(user:realm:pass):nonce:cnonce into A1.
#[test]
fn sess_algorithms_fold_nonce_and_cnonce_into_a1() {
    for (alg, want) in [
        ("MD5-sess", "d9e8e5dc7110f8457a3421b391bffe79"),
        (
            "SHA-256-sess",
            "af3cc3067f1ea693e0d4a4ebb68d162455eea05a5db5fde01bb1afbed3de8a0a",
        ),
        (
            "SHA-512-256-sess",
            "edce162aa037209bab5467a2e3f4133bf97a5b9bd15d54030dd0c1573c3b371a",
        ),
    ] {
        let ch = biloxi(&format!(", qop=\"auth\", algorithm={alg}"));
        let v = authorize(
            &ch,
            &bob(),
            "MESSAGE",
            "sip:bob@biloxi.com",
            b"",
            "0a4f113b",
            1,
        )
        .unwrap();
        assert_eq!(
            param(&v, "response"),
            Some(&*format!("\"{want}\"")),
            "{alg}"
        );
        assert_eq!(param(&v, "algorithm"), Some(alg));
    }
}

/// RFC 7616 §3.4.3: auth-int hashes the body into A2.
#[test]
fn auth_int_hashes_the_body() {
    for (alg, want) in [
        ("MD5", "19b5861b41dedb4a719a39108a199f77"),
        (
            "SHA-256",
            "a6c2555d31382fd616ba69739669a6b9c1d4ad1768139a39080c8d4611d41ce6",
        ),
        (
            "SHA-512-256",
            "2b607759992267626f6824ace0b0dd0d67d034e8dee99ca3e82e4c6931cd9936",
        ),
    ] {
        let ch = biloxi(&format!(", qop=\"auth-int\", algorithm={alg}"));
        let v = authorize(
            &ch,
            &bob(),
            "MESSAGE",
            "sip:bob@biloxi.com",
            b"Watson, come here.",
            "0a4f113b",
            1,
        )
        .unwrap();
        assert_eq!(
            param(&v, "response"),
            Some(&*format!("\"{want}\"")),
            "{alg}"
        );
        assert_eq!(param(&v, "qop"), Some("auth-int"));
    }
}

/// RFC 3261 §22.4 item 7 and RFC 8760 §2.6 item 7: no body hashes as H("").
#[test]
fn auth_int_with_empty_body_hashes_empty_string() {
    for (alg, want) in [
        ("MD5", "e74811cc4857b4bda8e1f2ad8d82677c"),
        (
            "SHA-256",
            "3779ab86366de565cb3c1c52154385f2b69894f0af7f578c8db82bc769564f89",
        ),
    ] {
        let ch = biloxi(&format!(", qop=\"auth-int\", algorithm={alg}"));
        let v = authorize(
            &ch,
            &bob(),
            "MESSAGE",
            "sip:bob@biloxi.com",
            b"",
            "0a4f113b",
            1,
        )
        .unwrap();
        assert_eq!(
            param(&v, "response"),
            Some(&*format!("\"{want}\"")),
            "{alg}"
        );
    }
}

#[test]
fn auth_is_preferred_over_auth_int() {
    let ch = biloxi(", qop=\"auth-int,auth\"");
    let v = authorize(
        &ch,
        &bob(),
        "MESSAGE",
        "sip:bob@biloxi.com",
        b"x",
        "0a4f113b",
        1,
    )
    .unwrap();
    assert_eq!(param(&v, "qop"), Some("auth"));
}

/// RFC 3261 §22.4 item 8: -sess needs a cnonce, a cnonce needs qop.
#[test]
fn sess_without_qop_is_refused() {
    let ch = biloxi(", algorithm=MD5-sess");
    let err = authorize(
        &ch,
        &bob(),
        "MESSAGE",
        "sip:bob@biloxi.com",
        b"",
        "0a4f113b",
        1,
    )
    .unwrap_err();
    assert_eq!(err, AuthError::SessionWithoutQop);
    assert!(!ch.is_supported());
}

#[test]
fn unknown_qop_only_is_refused() {
    let ch = biloxi(", qop=\"auth-conf\"");
    let err = authorize(
        &ch,
        &bob(),
        "MESSAGE",
        "sip:bob@biloxi.com",
        b"",
        "0a4f113b",
        1,
    )
    .unwrap_err();
    assert_eq!(err.kind(), "unsupported_qop");
}

#[test]
fn unknown_algorithm_is_refused() {
    let ch = biloxi(", qop=auth, algorithm=SHA3-512");
    assert_eq!(ch.algorithm, Algorithm::Other("SHA3-512".into()));
    let err = authorize(
        &ch,
        &bob(),
        "MESSAGE",
        "sip:bob@biloxi.com",
        b"",
        "0a4f113b",
        1,
    )
    .unwrap_err();
    assert_eq!(
        err,
        AuthError::UnsupportedAlgorithm {
            algorithm: "SHA3-512".into()
        }
    );
}

#[test]
fn nonce_count_zero_and_bad_cnonce_are_refused() {
    let ch = biloxi(", qop=auth");
    let call = |cnonce: &str, nc| {
        authorize(
            &ch,
            &bob(),
            "MESSAGE",
            "sip:bob@biloxi.com",
            b"",
            cnonce,
            nc,
        )
    };
    assert_eq!(call("0a4f113b", 0), Err(AuthError::InvalidNonceCount));
    assert_eq!(call("", 1), Err(AuthError::InvalidCnonce));
    assert_eq!(call("a\"b", 1), Err(AuthError::InvalidCnonce));
    assert_eq!(call("a b", 1), Err(AuthError::InvalidCnonce));
    assert_eq!(param(&call("x", 0x1_0a).unwrap(), "nc"), Some("0000010a"));
    assert_eq!(param(&call("x", u32::MAX).unwrap(), "nc"), Some("ffffffff"));
}

/// A username or URI with a line break would inject header fields.
#[test]
fn values_that_would_break_the_header_are_refused() {
    let ch = biloxi(", qop=auth");
    let evil = Credentials {
        username: "bob\r\nVia: x".into(),
        password: String::new(),
    };
    let err = authorize(&ch, &evil, "MESSAGE", "sip:bob@biloxi.com", b"", "c", 1).unwrap_err();
    assert_eq!(err.kind(), "unwritable_value");
    let err = authorize(&ch, &bob(), "MES SAGE", "sip:bob@biloxi.com", b"", "c", 1).unwrap_err();
    assert_eq!(err, AuthError::UnwritableValue { field: "method" });
    let err = authorize(&ch, &bob(), "MESSAGE", "sip:bob@biloxi.com\"", b"", "c", 1).unwrap_err();
    assert_eq!(err, AuthError::UnwritableValue { field: "uri" });
}

/// RFC 3261 §25.1: quoted-string values go back out escaped, and the hash
/// uses the unescaped value (RFC 7616 §3.4.2 `unq()`).
#[test]
fn quotes_and_backslashes_are_escaped_on_the_way_out() {
    let ch =
        Challenge::parse(r#"Digest realm="a\"b\\c", nonce="n", opaque="o\"", qop=auth"#).unwrap();
    assert_eq!(ch.realm, "a\"b\\c");
    let creds = Credentials {
        username: "x\"y".into(),
        password: "p".into(),
    };
    let v = authorize(&ch, &creds, "REGISTER", "sip:biloxi.com", b"", "c", 1).unwrap();
    assert!(v.contains(r#"username="x\"y""#), "{v}");
    assert!(v.contains(r#"realm="a\"b\\c""#), "{v}");
    assert!(v.contains(r#"opaque="o\"""#), "{v}");
}

#[test]
fn session_counts_requests_on_one_nonce() {
    let mut s =
        DigestSession::with_cnonce(biloxi(", qop=auth, algorithm=SHA-256"), "0a4f113b".into());
    assert_eq!(s.nonce_count(), 0);
    let first = s
        .authorize(&bob(), "MESSAGE", "sip:bob@biloxi.com", b"")
        .unwrap();
    let second = s
        .authorize(&bob(), "MESSAGE", "sip:bob@biloxi.com", b"")
        .unwrap();
    assert_eq!(param(&first, "nc"), Some("00000001"));
    assert_eq!(param(&second, "nc"), Some("00000002"));
    assert_eq!(param(&second, "cnonce"), Some("\"0a4f113b\""));
    assert_eq!(
        param(&second, "response"),
        Some("\"c9c48ffbca13606e5aaf9974d626e85cce25dd3523223d734d19e90ae0f6891e\"")
    );
    assert_eq!(s.nonce_count(), 2);
}

#[test]
fn session_with_failed_authorize_does_not_count() {
    let mut s = DigestSession::with_cnonce(biloxi(", qop=auth"), "c".into());
    assert!(s.authorize(&bob(), "", "sip:bob@biloxi.com", b"").is_err());
    assert_eq!(s.nonce_count(), 0);
}

#[test]
fn cnonce_is_32_hex_digits_and_varies() {
    let mut rng = StdRng::seed_from_u64(7);
    let a = cnonce(&mut rng);
    let b = cnonce(&mut rng);
    assert_eq!(a.len(), 32);
    assert!(
        a.bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_ne!(a, b);
    let s = DigestSession::new(biloxi(", qop=auth"), &mut rng);
    assert_eq!(s.challenge().realm, "biloxi.com");
}

/// RFC 8760 §2.4: the topmost supported challenge, not the strongest.
#[test]
fn choose_takes_the_topmost_supported_challenge() {
    let chs = rfc7616_challenges();
    assert_eq!(choose(&chs).unwrap().algorithm, Algorithm::Sha256);
    let reversed: Vec<_> = chs.iter().rev().cloned().collect();
    assert_eq!(choose(&reversed).unwrap().algorithm, Algorithm::Md5);
}

/// RFC 8760 §2.4: "The client MUST ignore any challenge it does not understand."
#[test]
fn choose_skips_challenges_it_cannot_answer() {
    let chs = vec![
        biloxi(", qop=auth, algorithm=SHA3-256"),
        biloxi(", qop=\"auth-conf\""),
        biloxi(", algorithm=SHA-256-sess"),
        biloxi(", qop=auth, algorithm=MD5"),
    ];
    assert_eq!(choose(&chs).unwrap().algorithm, Algorithm::Md5);
    assert_eq!(choose(&chs[..3]), None);
    assert_eq!(choose(&[]), None);
}

#[test]
fn choose_strongest_prefers_sha2_over_md5_whatever_the_order() {
    let chs = vec![
        biloxi(", qop=auth, algorithm=MD5"),
        biloxi(", qop=auth, algorithm=SHA-512-256"),
        biloxi(", qop=auth, algorithm=SHA-256"),
    ];
    assert_eq!(
        choose_strongest(&chs).unwrap().algorithm,
        Algorithm::Sha512_256
    );
    assert_eq!(
        choose_strongest(&chs[..1]).unwrap().algorithm,
        Algorithm::Md5
    );
}

/// RFC 3261 §22.3: one credential per realm, the topmost of each.
#[test]
fn choose_per_realm_answers_each_realm_once() {
    let a = |alg: &str| {
        Challenge::parse(&format!(
            "Digest realm=\"a\", nonce=\"1\", qop=auth, algorithm={alg}"
        ))
        .unwrap()
    };
    let b = Challenge::parse("Digest realm=\"b\", nonce=\"2\", qop=auth").unwrap();
    let chs = vec![a("SHA-256"), b.clone(), a("MD5")];
    let chosen = choose_per_realm(&chs);
    assert_eq!(chosen.len(), 2);
    assert_eq!(chosen[0].algorithm, Algorithm::Sha256);
    assert_eq!(chosen[1], &b);
}

/// RFC 7616 §3.3 `stale`: retry silently only when the nonce was stale.
#[test]
fn rechallenge_tells_stale_nonce_from_bad_password() {
    let sent = biloxi(", qop=auth");
    let stale =
        Challenge::parse(r#"Digest realm="biloxi.com", nonce="fresh", qop=auth, stale=TRUE"#)
            .unwrap();
    let again =
        Challenge::parse(r#"Digest realm="biloxi.com", nonce="fresh", qop=auth, stale=false"#)
            .unwrap();
    let proxy = Challenge::parse(r#"Digest realm="atlanta.com", nonce="p", qop=auth"#).unwrap();
    assert_eq!(rechallenge(&sent, &stale), Rechallenge::RetryWithNewNonce);
    assert_eq!(rechallenge(&sent, &again), Rechallenge::CredentialsRejected);
    assert_eq!(rechallenge(&sent, &proxy), Rechallenge::NewRealm);
}

#[test]
fn challenge_header_pairs_401_and_407_with_their_answers() {
    let www = ChallengeHeader::for_status(401).unwrap();
    let proxy = ChallengeHeader::for_status(407).unwrap();
    assert_eq!(
        (www.name(), www.answer_name()),
        ("WWW-Authenticate", "Authorization")
    );
    assert_eq!(
        (proxy.name(), proxy.answer_name()),
        ("Proxy-Authenticate", "Proxy-Authorization")
    );
    assert_eq!(ChallengeHeader::for_status(403), None);
}

#[test]
fn credentials_debug_hides_the_password() {
    let s = format!("{:?}", bob());
    assert!(
        s.contains("bob") && s.contains("***") && !s.contains("zanzibar"),
        "{s}"
    );
}

/// RFC 3261 §25.1 quoted-pair: a control character a challenge carried escaped
/// goes back out escaped, never raw.
#[test]
fn escaped_controls_in_a_challenge_go_back_out_escaped() {
    let ch = Challenge::parse("Digest realm=\"a\\\u{0}b\", nonce=\"n\\\u{7}\", qop=auth").unwrap();
    assert_eq!(ch.realm, "a\u{0}b");
    let v = authorize(&ch, &bob(), "REGISTER", "sip:biloxi.com", b"", "c", 1).unwrap();
    assert!(v.contains("realm=\"a\\\u{0}b\""), "{v:?}");
    assert!(v.contains("nonce=\"n\\\u{7}\""), "{v:?}");
}

/// Challenge fields are public; a line break put in after parsing is refused.
#[test]
fn line_break_put_into_a_challenge_is_refused() {
    let mut ch = biloxi(", qop=auth");
    ch.opaque = Some("x\r\nVia: evil".into());
    let err = authorize(&ch, &bob(), "REGISTER", "sip:biloxi.com", b"", "c", 1).unwrap_err();
    assert_eq!(err, AuthError::UnwritableValue { field: "opaque" });
}

proptest::proptest! {
    /// Whatever a challenge or the caller holds, the answer is one header
    /// value: no line break, no panic; and the unescaped values round-trip.
    #[test]
    fn authorization_never_holds_a_line_break(
        realm in "[\u{0}-\u{7f}\u{e9}]{0,20}",
        opaque in "[\u{0}-\u{7f}]{0,20}",
        username in "\\PC{0,20}",
        uri in "[!-~]{1,20}",
        junk in "[ -~\t\r\n\u{0}]{0,40}",
        nc in 1u32..,
    ) {
        // RFC 3261 §25.1 quoted-pair for `"`, `\` and controls.
        let quote = |v: &str| {
            let mut q = String::new();
            for c in v.chars() {
                if c == '"' || c == '\\' || c.is_ascii_control() {
                    q.push('\\');
                }
                q.push(c);
            }
            q
        };
        let creds = Credentials { username, password: "p".into() };
        let value = format!("Digest realm=\"{}\", nonce=\"n\", qop=auth, opaque=\"{}\"", quote(&realm), quote(&opaque));
        match Challenge::parse(&value) {
            Ok(ch) => {
                proptest::prop_assert_eq!(&ch.realm, &realm);
                proptest::prop_assert_eq!(ch.opaque.as_deref(), Some(opaque.as_str()));
                if let Ok(v) = authorize(&ch, &creds, "MESSAGE", &uri, b"", "c", nc) {
                    proptest::prop_assert!(!v.contains(['\r', '\n']), "{:?}", v);
                }
            }
            // quoted-pair cannot carry CR or LF.
            Err(_) => proptest::prop_assert!((realm.clone() + &opaque).contains(['\r', '\n'])),
        }
        if let Ok(ch) = Challenge::parse(&format!("{value}, {junk}"))
            && let Ok(v) = authorize(&ch, &creds, "MESSAGE", &uri, b"", "c", nc)
        {
            proptest::prop_assert!(!v.contains(['\r', '\n']), "{:?}", v);
        }
    }
}
