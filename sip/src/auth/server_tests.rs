//! Tests of the server side of digest: RFC 7616 §3.9.1 checked byte for
//! byte, our challenges answered by our own client, stale and replayed nonces.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::auth::{Challenge, Credentials, DigestSession, choose};

/// RFC 7616 §3.9.1, the MD5 Authorization header field as printed.
const RFC7616_MD5: &str = "Digest username=\"Mufasa\",
       realm=\"http-auth@example.org\",
       uri=\"/dir/index.html\",
       algorithm=MD5,
       nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",
       nc=00000001,
       cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\",
       qop=auth,
       response=\"8ca523f5e9506fed4657c9700eebdbec\",
       opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

/// RFC 7616 §3.9.1, the SHA-256 one (the response is folded over two lines
/// in the RFC; joined here).
const RFC7616_SHA256: &str = "Digest username=\"Mufasa\",
       realm=\"http-auth@example.org\",
       uri=\"/dir/index.html\",
       algorithm=SHA-256,
       nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",
       nc=00000001,
       cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\",
       qop=auth,
       response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\",
       opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

fn mufasa_hashes() -> UserHashes {
    UserHashes::from_password("Mufasa", "http-auth@example.org", "Circle of Life")
}

/// The folds of the printed example are LF + spaces: RFC 3261 LWS.
fn unfolded(s: &str) -> String {
    s.replace('\n', "\r\n")
}

#[test]
fn rfc7616_3_9_1_md5_response_is_recomputed_from_stored_ha1() {
    let d = DigestResponse::parse(&unfolded(RFC7616_MD5)).expect("parses");
    assert_eq!(d.algorithm, Algorithm::Md5);
    assert_eq!(d.response, "8ca523f5e9506fed4657c9700eebdbec");
    assert_eq!(
        d.expected(&mufasa_hashes(), "GET").as_deref(),
        Some("8ca523f5e9506fed4657c9700eebdbec")
    );
    assert_eq!(
        d.expected(&mufasa_hashes(), "POST")
            .as_deref()
            .map(|r| r == d.response),
        Some(false)
    );
}

#[test]
fn rfc7616_3_9_1_sha256_response_is_recomputed_from_stored_ha1() {
    let d = DigestResponse::parse(&unfolded(RFC7616_SHA256)).expect("parses");
    assert_eq!(d.algorithm, Algorithm::Sha256);
    assert_eq!(
        d.expected(&mufasa_hashes(), "GET").as_deref(),
        Some("753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
    );
}

#[test]
fn ha1_is_hash_of_user_realm_password() {
    // `printf %s 'Mufasa:http-auth@example.org:Circle of Life' | md5sum` (and sha256sum).
    let h = mufasa_hashes();
    assert_eq!(h.md5, "3d78807defe7de2157e2b0b6573a855f");
    assert_eq!(
        h.sha256,
        "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"
    );
}

fn verifier() -> Verifier {
    Verifier::new("example.com", [7; 32], Duration::from_secs(300))
}

fn alice() -> Credentials {
    Credentials {
        username: "alice".into(),
        password: "wonderland".into(),
    }
}

fn alice_lookup(user: &str) -> Option<UserHashes> {
    (user == "alice").then(|| UserHashes::from_password("alice", "example.com", "wonderland"))
}

/// Our challenge, answered by our client with `creds`, as the client would.
fn answer(v: &Verifier, now: u64, pick: usize, creds: &Credentials) -> (DigestSession, String) {
    let mut rng = StdRng::seed_from_u64(now);
    let chs = v.challenges(now, &mut rng, false);
    let parsed: Vec<Challenge> = chs
        .iter()
        .map(|c| Challenge::parse(c).expect("parses"))
        .collect();
    let mut session = DigestSession::new(parsed[pick].clone(), &mut rng);
    let value = session
        .authorize(creds, "REGISTER", "sip:example.com", b"")
        .expect("authorizes");
    (session, value)
}

#[test]
fn rfc8760_2_3_challenges_offer_sha256_above_md5_with_qop_auth() {
    let v = verifier();
    let chs = v.challenges(1000, &mut StdRng::seed_from_u64(1), false);
    let parsed: Vec<Challenge> = chs
        .iter()
        .map(|c| Challenge::parse(c).expect("parses"))
        .collect();
    assert_eq!(parsed[0].algorithm, Algorithm::Sha256);
    assert_eq!(parsed[1].algorithm, Algorithm::Md5);
    for c in &parsed {
        assert_eq!(c.qop, vec![Qop::Auth]);
        assert_eq!(c.realm, "example.com");
        assert!(!c.stale);
    }
    assert_eq!(
        choose(&parsed).map(|c| &c.algorithm),
        Some(&Algorithm::Sha256)
    );
    let stale = v.challenges(1000, &mut StdRng::seed_from_u64(1), true);
    assert!(Challenge::parse(&stale[0]).expect("parses").stale);
}

#[test]
fn right_password_is_accepted_with_either_algorithm() {
    for pick in [0, 1] {
        let mut v = verifier();
        let (_, value) = answer(&v, 1000, pick, &alice());
        let ok = v
            .verify(&value, "REGISTER", 1001, alice_lookup)
            .expect("accepted");
        assert_eq!(ok.username, "alice");
        assert_eq!(ok.uri, "sip:example.com");
    }
}

#[test]
fn wrong_password_unknown_user_and_other_method_are_refused() {
    let mut v = verifier();
    let bad = Credentials {
        username: "alice".into(),
        password: "guess".into(),
    };
    let (_, value) = answer(&v, 1000, 0, &bad);
    assert_eq!(
        v.verify(&value, "REGISTER", 1000, alice_lookup),
        Err(Refusal::WrongResponse("alice".into()))
    );
    let (_, value) = answer(&v, 1000, 0, &alice());
    assert_eq!(
        v.verify(&value, "INVITE", 1000, alice_lookup)
            .map_err(|e| e.kind()),
        Err("wrong_response")
    );
    assert_eq!(
        v.verify(&value, "REGISTER", 1000, |_| None)
            .map_err(|e| e.kind()),
        Err("unknown_user")
    );
    assert_eq!(v.tracked(), 0, "refused answers leave no state");
}

#[test]
fn nonce_from_another_key_or_with_changed_time_is_forged() {
    let other = Verifier::new("example.com", [8; 32], Duration::from_secs(300));
    let (_, value) = answer(&other, 1000, 0, &alice());
    let mut v = verifier();
    assert_eq!(
        v.verify(&value, "REGISTER", 1000, alice_lookup),
        Err(Refusal::ForgedNonce)
    );
    // Moving the issue time forward to dodge expiry breaks the MAC.
    let (_, value) = answer(&v, 1000, 0, &alice());
    let tampered = value.replace("00000000000003e8", "00000000000007d0");
    assert_ne!(tampered, value);
    assert_eq!(
        v.verify(&tampered, "REGISTER", 1000, alice_lookup),
        Err(Refusal::ForgedNonce)
    );
}

#[test]
fn rfc7616_3_3_expired_nonce_with_right_digest_is_stale() {
    let mut v = verifier();
    let (_, value) = answer(&v, 1000, 1, &alice());
    assert_eq!(
        v.verify(&value, "REGISTER", 1301, alice_lookup),
        Err(Refusal::Stale)
    );
    assert!(Refusal::Stale.is_stale());
    // A wrong password on an old nonce is not stale: the user must be asked.
    let bad = Credentials {
        username: "alice".into(),
        password: "guess".into(),
    };
    let (_, value) = answer(&v, 1000, 1, &bad);
    assert_eq!(
        v.verify(&value, "REGISTER", 1301, alice_lookup)
            .map_err(|e| e.kind()),
        Err("wrong_response")
    );
}

#[test]
fn rfc7616_3_4_same_nonce_count_twice_is_a_replay() {
    let mut v = verifier();
    let (mut session, first) = answer(&v, 1000, 0, &alice());
    assert!(v.verify(&first, "REGISTER", 1000, alice_lookup).is_ok());
    assert_eq!(
        v.verify(&first, "REGISTER", 1001, alice_lookup),
        Err(Refusal::Replay)
    );
    let second = session
        .authorize(&alice(), "REGISTER", "sip:example.com", b"")
        .expect("authorizes");
    assert!(second.contains("nc=00000002"));
    assert!(v.verify(&second, "REGISTER", 1002, alice_lookup).is_ok());
    assert_eq!(
        v.verify(&first, "REGISTER", 1003, alice_lookup),
        Err(Refusal::Replay)
    );
}

#[test]
fn full_table_evicts_oldest_and_its_generation_turns_stale_not_replayable() {
    let mut v = verifier().with_capacity(2);
    let (_, a) = answer(&v, 1000, 0, &alice());
    let (_, b) = answer(&v, 1001, 0, &alice());
    let (_, c) = answer(&v, 1002, 0, &alice());
    assert!(v.verify(&a, "REGISTER", 1002, alice_lookup).is_ok());
    assert!(v.verify(&b, "REGISTER", 1002, alice_lookup).is_ok());
    assert!(v.verify(&c, "REGISTER", 1002, alice_lookup).is_ok());
    assert_eq!(v.tracked(), 2);
    // `a` was evicted: its replay is not accepted, it reads as stale.
    assert_eq!(
        v.verify(&a, "REGISTER", 1003, alice_lookup),
        Err(Refusal::Stale)
    );
    v.forget_expired(2000);
    assert_eq!(v.tracked(), 0);
}

#[test]
fn credentials_without_qop_other_realm_or_algorithm_are_refused() {
    let mut v = verifier();
    let (_, value) = answer(&v, 1000, 0, &alice());
    let no_qop = value.replace(", qop=auth", "");
    assert_eq!(
        v.verify(&no_qop, "REGISTER", 1000, alice_lookup),
        Err(Refusal::QopRequired)
    );
    let realm = value.replace("realm=\"example.com\"", "realm=\"other\"");
    assert_eq!(
        v.verify(&realm, "REGISTER", 1000, alice_lookup)
            .map_err(|e| e.kind()),
        Err("wrong_realm")
    );
    let alg = value.replace("algorithm=SHA-256", "algorithm=SHA-512-256");
    assert_eq!(
        v.verify(&alg, "REGISTER", 1000, alice_lookup)
            .map_err(|e| e.kind()),
        Err("unsupported_algorithm")
    );
    for junk in [
        "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        "Digest username=",
        "Digest nonce=\"x\"",
    ] {
        assert_eq!(
            v.verify(junk, "REGISTER", 1000, alice_lookup)
                .map_err(|e| e.kind()),
            Err("malformed")
        );
    }
}

#[test]
fn rfc8760_2_3_an_md5_only_verifier_challenges_once_and_refuses_sha256() {
    let creds = alice();
    let sha256 = verifier();
    let (_, sha256_answer) = answer(&sha256, 1000, 0, &creds);
    let mut md5_only = verifier()
        .with_algorithms(&[Algorithm::Md5])
        .expect("MD5 alone is a valid list");
    let chs = md5_only.challenges(1000, &mut StdRng::seed_from_u64(1), false);
    assert_eq!(chs.len(), 1);
    assert_eq!(
        Challenge::parse(&chs[0]).expect("parses").algorithm,
        Algorithm::Md5
    );
    // Same key and realm, so only the algorithm can be the reason.
    assert!(matches!(
        md5_only.verify(&sha256_answer, "REGISTER", 1000, alice_lookup),
        Err(Refusal::UnsupportedAlgorithm(a)) if a == "SHA-256"
    ));
    let (_, md5_answer) = answer(&md5_only, 1001, 0, &creds);
    assert!(
        md5_only
            .verify(&md5_answer, "REGISTER", 1001, alice_lookup)
            .is_ok()
    );
}

#[test]
fn an_empty_repeated_or_unimplemented_algorithm_list_is_refused() {
    for list in [
        &[][..],
        &[Algorithm::Md5, Algorithm::Md5][..],
        &[Algorithm::Sha512_256][..],
    ] {
        assert!(verifier().with_algorithms(list).is_err(), "{list:?}");
    }
}
