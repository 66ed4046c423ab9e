//! RFC 3261 §10.2 registration, driven in virtual time.

#![allow(clippy::unwrap_used)]

use super::*;

const CONTACT: &str = "sip:parley@192.0.2.10:5060";

fn config() -> RegisterConfig {
    RegisterConfig {
        request_uri: "sip:registrar.example.com".into(),
        contact: CONTACT.into(),
        expires: 3600,
        backoff_min: Duration::from_secs(1),
        backoff_max: Duration::from_secs(300),
    }
}

fn start(t0: Instant) -> Registration {
    Registration::new(
        config(),
        Credentials {
            username: "parley".into(),
            password: "secret".into(),
        },
        "reg-1@parley".into(),
        t0,
        7,
    )
}

fn ok(contact_expires: Option<u32>, header_expires: Option<u32>) -> RegisterResponse {
    RegisterResponse {
        status: 200,
        contacts: vec![match contact_expires {
            Some(e) => format!("<sip:other@198.51.100.1>;expires=99, <{CONTACT}>;expires={e}"),
            None => format!("<{CONTACT}>"),
        }],
        expires: header_expires.map(|e| e.to_string()),
        ..Default::default()
    }
}

fn challenge(status: u16, nonce: &str, stale: bool) -> RegisterResponse {
    RegisterResponse {
        status,
        challenges: vec![format!(
            r#"Digest realm="example.com", nonce="{nonce}", qop="auth"{}"#,
            if stale { ", stale=true" } else { "" }
        )],
        ..Default::default()
    }
}

fn status(status: u16) -> RegisterResponse {
    RegisterResponse {
        status,
        ..Default::default()
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// RFC 3261 §10.2: the first REGISTER goes at once; nothing more until it is answered.
#[test]
fn first_register_is_due_at_start_and_one_at_a_time() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    assert_eq!(reg.next_wakeup(), Some(t0));
    let first = reg.poll(t0).unwrap();
    assert_eq!(first.cseq, 1);
    assert_eq!(first.expires, 3600);
    assert_eq!(first.authorization, None);
    // §10.2: no new registration before the final response.
    assert_eq!(reg.poll(t0 + secs(100)), None);
    assert_eq!(reg.next_wakeup(), None);
    assert!(!reg.is_registered(t0));
}

/// RFC 3261 §10.2.4: the expires parameter of our own Contact wins over
/// the Expires header; the refresh goes before it, with the same Call-ID
/// and the next CSeq.
#[test]
fn rfc3261_10_2_4_refresh_uses_own_contact_expires_before_it_elapses() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    let event = reg.on_response(t0, &ok(Some(120), Some(3600)));
    assert_eq!(
        event,
        Event::Registered {
            expires: 120,
            refresh_in: secs(60)
        }
    );
    assert_eq!(reg.binding_ends(), Some(t0 + secs(120)));
    assert!(reg.is_registered(t0 + secs(119)));
    assert!(!reg.is_registered(t0 + secs(120)));
    assert_eq!(reg.poll(t0 + secs(59)), None);
    let refresh = reg.poll(t0 + secs(60)).unwrap();
    assert_eq!(refresh.cseq, 2);
    assert_eq!(reg.call_id(), "reg-1@parley");
}

#[test]
fn expires_header_is_used_when_own_contact_has_no_parameter() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    assert_eq!(
        reg.on_response(t0, &ok(None, Some(1800))),
        Event::Registered {
            expires: 1800,
            refresh_in: secs(1200)
        }
    );
}

/// RFC 3261 §19.1.4: scheme and host compare without case.
#[test]
fn own_binding_is_found_among_others_whatever_the_host_case() {
    let contacts = vec![
        r#""Other, Inc" <sip:x@a.example>;expires=5"#.to_owned(),
        "<SIP:parley@EXAMPLE.net:5060;transport=tcp>;expires=42".to_owned(),
    ];
    assert_eq!(
        own_binding_expires(&contacts, "sip:parley@example.net:5060;transport=tcp"),
        Some(42)
    );
    assert_eq!(
        own_binding_expires(&contacts, "sip:PARLEY@example.net:5060;transport=tcp"),
        None
    );
}

/// A long lifetime is refreshed ten minutes before it ends, a short one half-way.
#[test]
fn refresh_leaves_at_most_ten_minutes_margin() {
    assert_eq!(refresh_after(secs(3600)), secs(3000));
    assert_eq!(refresh_after(secs(60)), secs(30));
    assert_eq!(refresh_after(secs(1)), Duration::from_millis(500));
}

/// RFC 3261 §22.2, RFC 7616 §3.4: a 401 is answered with Authorization at
/// once, with the next CSeq; later refreshes carry credentials for the same
/// nonce with the nonce count going up.
#[test]
fn rfc3261_22_2_challenge_is_answered_and_reused_for_refreshes() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    assert_eq!(
        reg.on_response(t0, &challenge(401, "n1", false)),
        Event::Retrying
    );
    let answer = reg.poll(t0).unwrap();
    assert_eq!(answer.cseq, 2);
    let (name, value) = answer.authorization.unwrap();
    assert_eq!(name, "Authorization");
    assert!(value.contains(r#"nonce="n1""#), "{value}");
    assert!(value.contains("nc=00000001"), "{value}");
    assert!(
        value.contains(r#"uri="sip:registrar.example.com""#),
        "{value}"
    );
    assert!(matches!(
        reg.on_response(t0, &ok(Some(600), None)),
        Event::Registered { expires: 600, .. }
    ));
    let refresh = reg.poll(t0 + secs(300)).unwrap();
    assert_eq!(refresh.cseq, 3);
    assert!(refresh.authorization.unwrap().1.contains("nc=00000002"));
}

/// RFC 3261 §22.3: a 407 is answered with Proxy-Authorization.
#[test]
fn rfc3261_22_3_proxy_challenge_is_answered_with_proxy_authorization() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    reg.on_response(t0, &challenge(407, "p1", false));
    let answer = reg.poll(t0).unwrap();
    assert_eq!(answer.authorization.unwrap().0, "Proxy-Authorization");
}

/// RFC 7616 §3.3: a second challenge without stale=true means the
/// password is wrong: no loop, a failure and a backoff.
#[test]
fn rfc7616_3_3_rechallenge_without_stale_is_a_refusal() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    reg.on_response(t0, &challenge(401, "n1", false));
    reg.poll(t0).unwrap();
    let event = reg.on_response(t0, &challenge(401, "n2", false));
    let Event::Failed { error, retry_in } = event else {
        panic!("{event:?}")
    };
    assert_eq!(error, RegisterError::CredentialsRefused);
    assert_eq!(error.kind(), "credentials_refused");
    let retry_in = retry_in.unwrap();
    assert!(retry_in >= Duration::from_millis(500) && retry_in <= secs(1));
    assert_eq!(reg.poll(t0), None);
    // The next attempt starts without the refused credentials and answers
    // a fresh challenge again.
    let again = reg.poll(t0 + retry_in).unwrap();
    assert_eq!(again.authorization, None);
    assert_eq!(
        reg.on_response(t0 + retry_in, &challenge(401, "n3", false)),
        Event::Retrying
    );
}

/// RFC 7616 §3.3: stale=true is answered again, a bounded number of times.
#[test]
fn rfc7616_3_3_stale_challenge_is_answered_again() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    reg.on_response(t0, &challenge(401, "n1", false));
    reg.poll(t0).unwrap();
    assert_eq!(
        reg.on_response(t0, &challenge(401, "n2", true)),
        Event::Retrying
    );
    let answer = reg.poll(t0).unwrap();
    assert!(answer.authorization.unwrap().1.contains(r#"nonce="n2""#));
    reg.on_response(t0, &challenge(401, "n3", true));
    reg.poll(t0).unwrap();
    assert!(matches!(
        reg.on_response(t0, &challenge(401, "n4", true)),
        Event::Failed {
            error: RegisterError::CredentialsRefused,
            ..
        }
    ));
}

/// A refresh whose stored nonce the registrar no longer knows is
/// challenged once more: that fresh challenge is answered.
#[test]
fn refresh_with_an_old_nonce_answers_the_new_challenge() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    reg.on_response(t0, &challenge(401, "n1", false));
    reg.poll(t0).unwrap();
    reg.on_response(t0, &ok(Some(60), None));
    let t1 = t0 + secs(30);
    assert!(reg.poll(t1).unwrap().authorization.is_some());
    assert_eq!(
        reg.on_response(t1, &challenge(401, "n9", false)),
        Event::Retrying
    );
    assert!(
        reg.poll(t1)
            .unwrap()
            .authorization
            .unwrap()
            .1
            .contains(r#"nonce="n9""#)
    );
}

#[test]
fn challenge_without_a_usable_digest_is_a_failure() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    let garbage = RegisterResponse {
        status: 401,
        challenges: vec!["Basic realm=\"x\"".into(), "Digest nonce=".into()],
        ..Default::default()
    };
    assert!(matches!(
        reg.on_response(t0, &garbage),
        Event::Failed {
            error: RegisterError::UnusableChallenge,
            ..
        }
    ));
}

/// RFC 3261 §10.2.8: 423 is retried with the Min-Expires value, once.
#[test]
fn rfc3261_10_2_8_interval_too_brief_retries_with_min_expires() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    let brief = |min: &str| RegisterResponse {
        status: 423,
        min_expires: Some(min.into()),
        ..Default::default()
    };
    assert_eq!(reg.on_response(t0, &brief("7200")), Event::Retrying);
    let retry = reg.poll(t0).unwrap();
    assert_eq!((retry.cseq, retry.expires), (2, 7200));
    // A second 423 in the same attempt, or one asking for no more, fails.
    assert!(matches!(
        reg.on_response(t0, &brief("9000")),
        Event::Failed {
            error: RegisterError::IntervalTooBrief,
            ..
        }
    ));
    let mut other = start(t0);
    other.poll(t0).unwrap();
    assert!(matches!(
        other.on_response(t0, &brief("60")),
        Event::Failed {
            error: RegisterError::IntervalTooBrief,
            ..
        }
    ));
    // The raised interval stays for later registrations.
    let later = reg.poll(t0 + secs(10)).unwrap();
    assert_eq!(later.expires, 7200);
}

/// Failures in a row back off exponentially with jitter, capped; a success resets it.
#[test]
fn failures_back_off_with_jitter_up_to_the_cap() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..12 {
        reg.poll(now).unwrap();
        let Event::Failed {
            retry_in: Some(wait),
            ..
        } = reg.on_error(now, "timeout")
        else {
            panic!()
        };
        waits.push(wait);
        now += wait;
    }
    for (i, wait) in waits.iter().enumerate() {
        let full = secs(1 << i.min(20)).min(secs(300));
        assert!(*wait >= full / 2 && *wait <= full, "{i}: {wait:?}");
    }
    assert!(waits[11] >= secs(150));
    reg.poll(now).unwrap();
    reg.on_response(now, &ok(Some(60), None));
    let t = now + secs(30);
    reg.poll(t).unwrap();
    let Event::Failed {
        retry_in: Some(wait),
        ..
    } = reg.on_error(t, "timeout")
    else {
        panic!()
    };
    assert!(wait <= secs(1), "{wait:?}");
}

/// RFC 3261 §20.33: a Retry-After is waited at least.
#[test]
fn retry_after_of_a_refusal_is_honoured() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    let busy = RegisterResponse {
        status: 503,
        retry_after: Some("120 (maintenance)".into()),
        ..Default::default()
    };
    assert_eq!(
        reg.on_response(t0, &busy),
        Event::Failed {
            error: RegisterError::Refused(503),
            retry_in: Some(secs(120))
        }
    );
}

/// A 403 (or any other refusal) ends the binding as far as we know and is retried later.
#[test]
fn refusal_of_a_refresh_ends_registered_state() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    reg.on_response(t0, &ok(Some(60), None));
    assert!(reg.is_registered(t0 + secs(30)));
    reg.poll(t0 + secs(30)).unwrap();
    let event = reg.on_response(t0 + secs(30), &status(403));
    assert!(matches!(
        event,
        Event::Failed {
            error: RegisterError::Refused(403),
            retry_in: Some(_)
        }
    ));
    assert!(!reg.is_registered(t0 + secs(31)));
}

#[test]
fn two_hundred_with_zero_expires_is_not_a_binding() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    assert!(matches!(
        reg.on_response(t0, &ok(Some(0), None)),
        Event::Failed {
            error: RegisterError::NotBound,
            ..
        }
    ));
}

/// RFC 3261 §10.2.2: stopping sends Expires 0 with the next CSeq and the
/// credentials in use; a challenge to it is answered; then nothing more.
#[test]
fn rfc3261_10_2_2_stop_removes_the_binding() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    reg.on_response(t0, &challenge(401, "n1", false));
    reg.poll(t0).unwrap();
    reg.on_response(t0, &ok(Some(60), None));
    let bye = reg.stop(t0 + secs(5)).unwrap();
    assert_eq!((bye.cseq, bye.expires), (3, 0));
    assert!(bye.authorization.is_some());
    assert!(!reg.is_registered(t0 + secs(5)));
    assert_eq!(
        reg.on_response(t0 + secs(5), &challenge(401, "n2", false)),
        Event::Retrying
    );
    let again = reg.poll(t0 + secs(5)).unwrap();
    assert_eq!((again.cseq, again.expires), (4, 0));
    assert_eq!(
        reg.on_response(t0 + secs(5), &ok(None, None)),
        Event::Unregistered
    );
    assert_eq!(reg.poll(t0 + secs(1000)), None);
    assert_eq!(reg.next_wakeup(), None);
    assert_eq!(reg.stop(t0 + secs(1000)), None);
}

#[test]
fn stop_without_a_binding_sends_nothing() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    reg.on_error(t0, "transport");
    assert_eq!(reg.stop(t0), None);
    assert_eq!(reg.next_wakeup(), None);
}

/// A REGISTER still out when stopping may yet bind: it is removed too.
#[test]
fn stop_while_a_register_is_out_removes_it() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    let bye = reg.stop(t0).unwrap();
    assert_eq!((bye.cseq, bye.expires), (2, 0));
    // A failed removal is not retried.
    assert_eq!(
        reg.on_error(t0, "timeout"),
        Event::Failed {
            error: RegisterError::Unreachable("timeout"),
            retry_in: None
        }
    );
    assert_eq!(reg.poll(t0 + secs(100)), None);
}

#[test]
fn contacts_split_at_commas_outside_quotes_and_brackets() {
    assert_eq!(
        split_contacts(r#""a, \"b\"" <sip:x@y;p=1,2>;expires=3 , <sip:z@w>"#),
        vec![r#""a, \"b\"" <sip:x@y;p=1,2>;expires=3"#, "<sip:z@w>"]
    );
}

/// RFC 3261 §10.2: a CSeq used by someone else for our Call-ID is never reused.
#[test]
fn cseq_stays_above_one_the_endpoint_used() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    reg.note_cseq(2);
    reg.on_response(t0, &ok(Some(60), None));
    assert_eq!(reg.poll(t0 + secs(30)).unwrap().cseq, 3);
}

/// A refresh that failed leaves the registrar's binding in doubt until it
/// would have run out: stopping removes it; after that, nothing is sent.
#[test]
fn stop_after_a_failed_refresh_still_removes_the_binding() {
    let t0 = Instant::now();
    let mut reg = start(t0);
    reg.poll(t0).unwrap();
    reg.on_response(t0, &ok(Some(60), None));
    reg.poll(t0 + secs(30)).unwrap();
    reg.on_error(t0 + secs(30), "timeout");
    assert!(!reg.is_registered(t0 + secs(31)));
    assert_eq!(reg.stop(t0 + secs(31)).unwrap().expires, 0);

    let mut late = start(t0);
    late.poll(t0).unwrap();
    late.on_response(t0, &ok(Some(60), None));
    late.poll(t0 + secs(30)).unwrap();
    late.on_error(t0 + secs(30), "timeout");
    assert_eq!(late.stop(t0 + secs(60)), None);
}
