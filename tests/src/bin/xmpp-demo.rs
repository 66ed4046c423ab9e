//! A tiny XMPP client for the quick start: logs in, optionally sends one
//! message, and prints the messages it receives.
//!
//! `xmpp-demo HOST:PORT JID PASSWORD [--send TO BODY] [--expect N] [--wait SECS]`
//! exits 0 once it has received N messages (default 0), 1 if the wait ran out first.

use std::process::ExitCode;
use std::time::Duration;

use parley_harness::xmpp_client::XmppClient;

struct Args {
    addr: String,
    jid: String,
    password: String,
    send: Option<(String, String)>,
    expect: usize,
    wait: u64,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let usage =
        "usage: xmpp-demo HOST:PORT JID PASSWORD [--send TO BODY] [--expect N] [--wait SECS]";
    let mut args = Args {
        addr: it.next().ok_or(usage)?,
        jid: it.next().ok_or(usage)?,
        password: it.next().ok_or(usage)?,
        send: None,
        expect: 0,
        wait: 15,
    };
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--send" => {
                let to = it.next().ok_or(usage)?;
                let body = it.next().ok_or(usage)?;
                args.send = Some((to, body));
            }
            "--expect" => args.expect = it.next().ok_or(usage)?.parse().map_err(|_| usage)?,
            "--wait" => args.wait = it.next().ok_or(usage)?.parse().map_err(|_| usage)?,
            _ => return Err(usage.to_owned()),
        }
    }
    Ok(args)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut client = match XmppClient::connect_to(&args.addr, &args.jid, &args.password).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xmpp-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("xmpp-demo: logged in as {}", client.jid());
    if let Some((to, body)) = &args.send {
        client
            .send_xml(&format!(
                "<message xmlns='jabber:client' to='{}' id='demo-1'><body>{}</body></message>",
                escape(to),
                escape(body)
            ))
            .await;
        println!("xmpp-demo: sent to {to}: {body}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.wait);
    let mut received = 0;
    while received < args.expect || args.expect == 0 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(el) = client.recv_matching(left, |e| e.name() == "message").await else {
            break;
        };
        let from = el.attr("from").unwrap_or("?").to_owned();
        match el.get_child("body", "jabber:client") {
            Some(body) => println!("xmpp-demo: message from {from}: {}", body.text()),
            None => println!("xmpp-demo: {}", String::from(&el)),
        }
        received += 1;
    }
    client.disconnect().await;
    if received >= args.expect {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "xmpp-demo: expected {} message(s), got {received}",
            args.expect
        );
        ExitCode::FAILURE
    }
}
