//! RFC 3261 §8.1.1.4: the Call-ID of a new request outside a dialog "MUST be
//! selected by the UAC as a globally unique identifier over space and time";
//! §19.3: a tag "MUST be globally unique and cryptographically random with at
//! least 32 bits of randomness". A restart must not mint again what the first
//! run minted, while the store still holds dialogs named by those values.
//!
//! Juliet subscribes to bob and romeo fetches his presence (RFC 8048 §7.1);
//! parley restarts and refreshes juliet's stored dialog; then romeo
//! subscribes and nurse fetches. Every new dialog Parley opened, as bob's
//! agent (sipp) received it, has its own Call-ID and its own From tag.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use parley_harness::sipp::{Sipp, SippOutcome};
use parley_harness::xmpp_client::XmppClient;
use parley_sip::wire::message::{Message, ParseLimits};
use parley_sip::wire::validate::{self, RequestHead};
use support::{
    COMPONENT, Options, PASSWORD, World, XMPP_DOMAIN, sipp_agent_notifies, sipp_subscribe_ok,
};

/// bob's presence agent, one sipp call per dialog: a subscription (Expires
/// above 0) gets 200 and an active NOTIFY, then waits for the refresh in
/// that dialog (200 and a second NOTIFY noting the refresh); a fetch
/// (Expires: 0) gets 200 and one NOTIFY `terminated;reason=timeout`.
fn agent() -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="bob's presence agent for many dialogs">
<recv request="SUBSCRIBE"><action>
<ereg regexp="^ *0$" search_in="hdr" header="Expires:" check_it="false" assign_to="fetch"/>
<ereg regexp="&lt;.*$" search_in="hdr" header="From:" check_it="true" assign_to="subfrom"/>
<ereg regexp="&lt;[^&gt;]*&gt;" search_in="hdr" header="To:" check_it="true" assign_to="subto"/>
<ereg regexp="sip:[^&gt;]*" search_in="hdr" header="Contact:" check_it="true" assign_to="subcontact"/>
</action></recv>
<nop hide="true" test="fetch" next="fetch"/>
{subscribed}{open}<recv request="SUBSCRIBE"/>
{refreshed}{again}<nop hide="true" next="end"/>
<label id="fetch"/>
{fetched}{fetch_notify}<label id="end"/>
</scenario>
"#,
        subscribed = ok_with_tag("600"),
        open = notify(1, "active;expires=600", "At the balcony"),
        refreshed = sipp_subscribe_ok(600),
        again = notify(2, "active;expires=600", "Refreshed"),
        fetched = ok_with_tag("0"),
        fetch_notify = notify(1, "terminated;reason=timeout", "At the balcony"),
    )
}

/// 200 to a dialog-creating SUBSCRIBE: bob's To tag and `expires`.
fn ok_with_tag(expires: &str) -> String {
    format!(
        r#"<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]bob
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:bob@[local_ip]:[local_port]>
Expires: {expires}
Content-Length: 0

]]></send>
"#
    )
}

/// bob's NOTIFY `cseq` in the call's dialog with `state` and a PIDF noting
/// `note`, and Parley's 200 to it.
fn notify(cseq: u32, state: &str, note: &str) -> String {
    sipp_agent_notifies(
        cseq,
        state,
        &format!(
            r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@{COMPONENT}"><tuple id="t1"><status><basic>open</basic></status><note>{note}</note></tuple></presence>"#
        ),
    )
}

/// Every SUBSCRIBE sipp received, parsed by the project's own SIP parser,
/// one per transaction (a UDP retransmission repeats the Via branch).
fn subscribes(out: &SippOutcome) -> Vec<RequestHead> {
    let mut by_branch: HashMap<String, RequestHead> = HashMap::new();
    // messages.log blocks: "----- <time>\nUDP message received [N] bytes :\n\n<message>".
    for block in out
        .messages_log
        .split("-----------------------------------------------")
    {
        if !block.contains("message received") {
            continue;
        }
        let Some((_, raw)) = block.split_once("bytes :\n\n") else {
            continue;
        };
        if !raw.starts_with("SUBSCRIBE ") {
            continue;
        }
        // Parley's SUBSCRIBEs have no body: the head ends at the first empty line.
        let head_end = raw.find("\n\n").map_or(raw.len(), |i| i + 1);
        let raw = format!(
            "{}\r\n",
            raw[..head_end].replace("\r\n", "\n").replace('\n', "\r\n")
        );
        let head = Message::parse(Bytes::from(raw.clone()), ParseLimits::default())
            .map_err(|e| e.to_string())
            .and_then(|m| validate::request(&m).map_err(|e| format!("{e:?}")))
            .unwrap_or_else(|e| panic!("SUBSCRIBE from parley does not parse ({e}):\n{raw}"));
        let branch = head.via.branch.as_deref().unwrap_or_default().to_owned();
        by_branch.entry(branch).or_insert(head);
    }
    by_branch.into_values().collect()
}

/// Whether `client` gets an available presence from bob whose status is
/// `status` (within 15 s).
async fn sees_bob(client: &mut XmppClient, status: &str) -> bool {
    let bob = format!("bob@{COMPONENT}");
    client
        .recv_matching(Duration::from_secs(15), |e| {
            e.name() == "presence"
                && e.attr("type").is_none()
                && e.attr("from")
                    .is_some_and(|f| f.split('/').next() == Some(bob.as_str()))
                && support::child_text(e, "status").as_deref() == Some(status)
        })
        .await
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_dialogs_get_fresh_call_ids_and_tags_across_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("agent.xml");
    std::fs::write(&path, agent()).expect("write scenario");
    let uas = Sipp::new(&path)
        .calls(100)
        .timeout(Duration::from_secs(120))
        .spawn_uas();
    let mut world = World::start(Options {
        outbound_proxy: Some(format!("sip:{}", uas.addr())),
        ..Options::default()
    });
    world.prosody.add_user("nurse", PASSWORD);
    let bob = format!("bob@{COMPONENT}");
    let subscribe = format!("<presence to='{bob}' type='subscribe'/>");
    let probe = format!("<presence to='{bob}' type='probe'/>");

    // First run: a subscription (stored) and a fetch.
    let mut juliet = world.client("juliet").await;
    juliet.send_xml(&subscribe).await;
    let juliet_first = sees_bob(&mut juliet, "At the balcony").await;
    let mut romeo = world.client("romeo").await;
    romeo.send_xml(&probe).await;
    let romeo_fetched = sees_bob(&mut romeo, "At the balcony").await;

    // Second run: the stored dialog is refreshed; a new subscription and a new fetch.
    tokio::task::block_in_place(|| world.restart_parley(|_| {}));
    let juliet_refreshed = sees_bob(&mut juliet, "Refreshed").await;
    romeo.send_xml(&subscribe).await;
    let romeo_subscribed = sees_bob(&mut romeo, "At the balcony").await;
    let mut nurse = world.client("nurse").await;
    nurse.send_xml(&probe).await;
    let nurse_fetched = sees_bob(&mut nurse, "At the balcony").await;

    let out = uas.stop();
    let seen = subscribes(&out);
    let report = || format!("{}\n--- parley ---\n{}", out.report(), world.logs());
    let new_dialogs: Vec<(String, String)> = seen
        .iter()
        .filter(|h| h.to.param("tag").is_none())
        .map(|h| {
            (
                h.call_id.to_string(),
                h.from.param("tag").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let mut call_ids: Vec<&str> = new_dialogs.iter().map(|(c, _)| c.as_str()).collect();
    let mut tags: Vec<&str> = new_dialogs.iter().map(|(_, t)| t.as_str()).collect();
    call_ids.sort_unstable();
    tags.sort_unstable();
    let repeated = |v: &[&str]| v.windows(2).any(|w| w[0] == w[1]);
    assert!(
        !repeated(&call_ids),
        "RFC 3261 §8.1.1.4: a Call-ID was minted twice: {call_ids:?}\n{}",
        report()
    );
    assert!(
        !repeated(&tags),
        "RFC 3261 §19.3: a From tag was minted twice: {tags:?}\n{}",
        report()
    );
    assert!(
        tags.iter().all(|t| !t.is_empty()),
        "a new dialog without a From tag: {new_dialogs:?}"
    );

    // And the run did what the test claims: two subscriptions and two
    // fetches (juliet, romeo from the XMPP side; romeo, nurse as SIP From),
    // one refresh of juliet's stored dialog, every presence delivered.
    assert_eq!(new_dialogs.len(), 4, "{new_dialogs:?}\n{}", report());
    let froms: Vec<String> = seen
        .iter()
        .filter(|h| h.to.param("tag").is_none())
        .map(|h| h.from.uri_text.as_str().to_owned())
        .collect();
    for user in ["juliet", "romeo", "nurse"] {
        assert!(
            froms.contains(&format!("sip:{user}@{XMPP_DOMAIN}")),
            "{user}: {froms:?}\n{}",
            report()
        );
    }
    let refresh = seen
        .iter()
        .find(|h| h.to.param("tag").is_some())
        .unwrap_or_else(|| panic!("no refresh of the stored dialog\n{}", report()));
    assert!(
        new_dialogs.contains(&(
            refresh.call_id.to_string(),
            refresh.from.param("tag").unwrap_or_default().to_owned()
        )),
        "the refresh continues a dialog of the first run\n{}",
        report()
    );
    let delivered = [
        ("juliet's subscription", juliet_first),
        ("romeo's fetch", romeo_fetched),
        ("juliet's refreshed subscription", juliet_refreshed),
        ("romeo's subscription", romeo_subscribed),
        ("nurse's fetch", nurse_fetched),
    ];
    for (what, seen) in delivered {
        assert!(seen, "no presence from bob for {what}\n{}", report());
    }
}
