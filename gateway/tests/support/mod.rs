//! The world of an end-to-end test: a real Prosody, the real `parley` binary,
//! and sipp scenarios written for the case at hand, all on loopback.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use parley_harness::parley::Parley;
use parley_harness::port::{free_tcp_port, free_udp_tcp_port};
use parley_harness::prosody::{Prosody, ProsodyConfig};
use parley_harness::sipp::{Sipp, SippTransport, SippUas};
use parley_harness::xmpp_client::XmppClient;

/// The XMPP server's domain (Prosody VirtualHost).
pub const XMPP_DOMAIN: &str = "xmpp.example";
/// Parley's component domain, also the SIP domain.
pub const COMPONENT: &str = "sip.example.net";
/// The password of every test XMPP user.
pub const PASSWORD: &str = "pw-for-tests";

/// Prosody + parley, connected.
pub struct World {
    pub prosody: Prosody,
    pub parley: Parley,
    /// Parley's SIP port (UDP and TCP).
    pub sip_port: u16,
    /// The config parley runs with (kept for [`World::restart_parley`]).
    pub config: String,
    metrics: SocketAddr,
    earlier_logs: String,
    dir: tempfile::TempDir,
}

/// Options for [`World::start`].
#[derive(Default)]
pub struct Options {
    /// `sip.outbound_proxy`, e.g. a sipp UAS.
    pub outbound_proxy: Option<String>,
    /// Extra TOML appended to the config (whole sections).
    pub extra: String,
    /// `messages.delivery_window_ms`.
    pub delivery_window_ms: Option<u64>,
    /// `sip.t1_ms`.
    pub t1_ms: Option<u64>,
    /// `messages.send_chat_states`.
    pub send_chat_states: bool,
    /// `store.path`; a fresh directory in the world's temp dir when `None`.
    pub store_path: Option<PathBuf>,
    /// Extra TOML lines inside `[sip]` (e.g. `trusted_peers = [...]`).
    pub sip_extra: String,
    /// Prosody's built-in MUC service at this domain (XEP-0045), if any.
    pub muc_domain: Option<String>,
}

impl World {
    /// Start Prosody with users `juliet` and `romeo`, then parley, and wait until ready.
    pub fn start(options: Options) -> World {
        let prosody_config = ProsodyConfig {
            domain: XMPP_DOMAIN.into(),
            component_domain: COMPONENT.into(),
            component_secret: "component-secret".into(),
        };
        let prosody = match &options.muc_domain {
            Some(muc) => Prosody::start_with_muc(prosody_config, muc),
            None => Prosody::start(prosody_config),
        };
        prosody.add_user("juliet", PASSWORD);
        prosody.add_user("romeo", PASSWORD);
        let sip_port = free_udp_tcp_port();
        let metrics: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
        let dir = tempfile::tempdir().expect("temp dir");
        let proxy = options
            .outbound_proxy
            .map(|p| format!("outbound_proxy = \"{p}\"\n"))
            .unwrap_or_default();
        let config = format!(
            r#"
[xmpp]
component_domain = "{COMPONENT}"
server = "{server}"
secret = "component-secret"
reconnect_min_ms = 100
reconnect_max_ms = 1000

[sip]
domain = "{COMPONENT}"
listen = ["udp:127.0.0.1:{sip_port}", "tcp:127.0.0.1:{sip_port}"]
t1_ms = {t1}
{proxy}{sip_extra}
[metrics]
listen = "{metrics}"

[store]
path = "{store}"

[messages]
delivery_window_ms = {window}
send_chat_states = {chat_states}

{extra}
"#,
            server = prosody.component_addr(),
            t1 = options.t1_ms.unwrap_or(100),
            window = options.delivery_window_ms.unwrap_or(300),
            chat_states = options.send_chat_states,
            store = options
                .store_path
                .unwrap_or_else(|| dir.path().join("store"))
                .display(),
            extra = options.extra,
            sip_extra = options.sip_extra,
        );
        let parley = Parley::start(
            &PathBuf::from(env!("CARGO_BIN_EXE_parley")),
            &config,
            metrics,
        );
        parley.wait_ready(Duration::from_secs(20));
        World {
            prosody,
            parley,
            sip_port,
            config,
            metrics,
            earlier_logs: String::new(),
            dir,
        }
    }

    /// A sipp UAS running `scenario` (30 s bound unless `configure` says
    /// otherwise) and a world whose outbound proxy it is, so every request
    /// Parley sends to a SIP user reaches it.
    pub fn start_with_uas(
        scenario: &str,
        configure: impl FnOnce(Sipp) -> Sipp,
        options: Options,
    ) -> (World, SippUas) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("uas.xml");
        std::fs::write(&path, scenario).expect("write scenario");
        let uas = configure(Sipp::new(&path).timeout(Duration::from_secs(30))).spawn_uas();
        // sipp has read its scenario by the time it listens; the file can go.
        drop(dir);
        let world = World::start(Options {
            outbound_proxy: Some(uas.proxy_uri()),
            ..options
        });
        (world, uas)
    }

    /// Parley's log across restarts.
    pub fn logs(&self) -> String {
        format!("{}{}", self.earlier_logs, self.parley.log())
    }

    /// The default store directory (when [`Options::store_path`] was `None`).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// SIGTERM parley, check it exits 0, run `between` while it is down, then
    /// start it again with the same config and ports and wait until it is ready.
    pub fn restart_parley(&mut self, between: impl FnOnce(&World)) {
        let code = self.parley.terminate(Duration::from_secs(40));
        assert_eq!(code, Some(0), "{}", self.parley.log());
        between(self);
        self.restart_parley_after_exit();
    }

    /// Start parley again with the same config and ports once the previous
    /// process has exited, and wait until it is ready.
    pub fn restart_parley_after_exit(&mut self) {
        self.earlier_logs.push_str(&format!(
            "{}---- (parley restarted) ----\n",
            self.parley.log()
        ));
        self.parley = Parley::start(
            &PathBuf::from(env!("CARGO_BIN_EXE_parley")),
            &self.config,
            self.metrics,
        );
        self.parley.wait_ready(Duration::from_secs(20));
    }

    /// Asserts that a sipp run succeeded, showing its report and parley's log.
    #[allow(dead_code)]
    pub fn assert_sipp(&self, out: &parley_harness::sipp::SippOutcome) {
        assert!(
            out.success,
            "{}\n--- parley ---\n{}",
            out.report(),
            self.parley.log()
        );
    }

    /// Parley's SIP address.
    pub fn sip_addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.sip_port).into()
    }

    /// Log in an XMPP user.
    pub async fn client(&self, user: &str) -> XmppClient {
        XmppClient::connect(&self.prosody, user, PASSWORD).await
    }

    /// Write a sipp scenario into the world's temp dir.
    pub fn scenario(&self, name: &str, xml: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, xml).expect("write scenario");
        path
    }
}

/// sipp's 200 OK to the request it just received (a NOTIFY, say).
pub const OK: &str = "<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>";

/// sipp's 200 OK to a SUBSCRIBE it just received, in its dialog, with the
/// Expires RFC 6665 §4.2.1.1 requires ("200-class responses to SUBSCRIBE
/// requests ... MUST contain an "Expires" header field").
#[allow(dead_code)]
pub fn sipp_subscribe_ok(expires: u32) -> String {
    format!(
        "{}\n",
        OK.replace(
            "Content-Length: 0",
            &format!("Expires: {expires}\nContent-Length: 0")
        )
    )
}

/// The sipp `<send>` of bob's SUBSCRIBE to juliet's presence (RFC 6665
/// §4.1.2, RFC 3856 §6): CSeq 1 opens the dialog (with `Accept:
/// application/pidf+xml`); a later CSeq refreshes or ends it within the
/// dialog whose To tag sipp holds in `[$totag]`. `expires` goes in as written
/// (a number, or a sipp expression).
#[allow(dead_code)]
pub fn sipp_subscribe(cseq: u32, expires: &str) -> String {
    let (to_tag, accept) = if cseq == 1 {
        ("", "Accept: application/pidf+xml\n")
    } else {
        (";[$totag]", "")
    };
    format!(
        r#"<send retrans="500"><![CDATA[
SUBSCRIBE sip:juliet@{XMPP_DOMAIN} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:bob@{COMPONENT}>;tag=[pid]bob
To: <sip:juliet@{XMPP_DOMAIN}>{to_tag}
Call-ID: [call_id]
CSeq: {cseq} SUBSCRIBE
Contact: <sip:bob@[local_ip]:[local_port]>
Event: presence
{accept}Expires: {expires}
Content-Length: 0

]]></send>
"#
    )
}

/// bob's presence agent (sipp UAS) takes a SUBSCRIBE, keeping its From, To
/// and Contact as `[$subfrom]`, `[$subto]`, `[$subcontact]` (and whatever
/// `checks`, more `<ereg>` actions, assign), and answers `status` (`200 OK`,
/// `202 Accepted`) with an Expires of 600 (RFC 6665 §4.2.1.1).
#[allow(dead_code)]
pub fn sipp_agent_accepts(status: &str, checks: &str) -> String {
    format!(
        r#"<recv request="SUBSCRIBE"><action>
{checks}<ereg regexp="&lt;.*$" search_in="hdr" header="From:" check_it="true" assign_to="subfrom"/>
<ereg regexp="&lt;[^&gt;]*&gt;" search_in="hdr" header="To:" check_it="true" assign_to="subto"/>
<ereg regexp="sip:[^&gt;]*" search_in="hdr" header="Contact:" check_it="true" assign_to="subcontact"/>
</action></recv>
<send><![CDATA[
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]bob
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:bob@[local_ip]:[local_port]>
Expires: 600
Content-Length: 0

]]></send>
"#
    )
}

/// bob's agent sends NOTIFY `cseq` in the dialog [`sipp_agent_accepts`]
/// opened (RFC 6665 §4.2.2), with `state` as Subscription-State and `pidf`
/// (or no body when empty), and takes its 200.
#[allow(dead_code)]
pub fn sipp_agent_notifies(cseq: u32, state: &str, pidf: &str) -> String {
    let typed = if pidf.is_empty() {
        ""
    } else {
        "Content-Type: application/pidf+xml\n"
    };
    format!(
        r#"<send><![CDATA[
NOTIFY [$subcontact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: [$subto];tag=[pid]bob
To: [$subfrom]
Call-ID: [call_id]
CSeq: {cseq} NOTIFY
Contact: <sip:bob@[local_ip]:[local_port]>
Event: presence
Subscription-State: {state}
{typed}Content-Length: [len]

{pidf}
]]></send>
<recv response="200"/>
"#
    )
}

/// A SIP MESSAGE to send with sipp as a UAC.
pub struct SipMessage<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub call_id: &'a str,
    pub content_type: &'a str,
    /// Header lines to add, each `Name: value`.
    pub headers: &'a [&'a str],
    /// Body lines; sipp ends every line with CRLF.
    pub body: &'a str,
    /// The final response sipp must get.
    pub expect: u16,
}

impl SipMessage<'_> {
    /// A sipp UAC scenario sending this MESSAGE and expecting `expect`.
    pub fn scenario(&self) -> String {
        let headers: String = self.headers.iter().map(|h| format!("{h}\n")).collect();
        let body = if self.body.is_empty() {
            String::new()
        } else {
            format!("{}\n", self.body)
        };
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="message">
<send retrans="100"><![CDATA[
MESSAGE {to} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <{from}>;tag=[pid]-[call_number]
To: <{to}>
Call-ID: [call_id]
CSeq: 1 MESSAGE
{headers}Content-Type: {ctype}
Content-Length: [len]

{body}]]></send>
<recv response="{expect}" timeout="15000"/>
</scenario>
"#,
            from = self.from,
            to = self.to,
            ctype = self.content_type,
            expect = self.expect,
        )
    }

    /// A sipp run of `path` whose Call-ID is `self.call_id` (sipp's `-cid_str`).
    pub fn sipp(&self, path: PathBuf) -> Sipp {
        Sipp::new(path)
            .arg("-cid_str")
            .arg(self.call_id)
            .timeout(Duration::from_secs(20))
    }

    /// Send it to the world's parley over `transport` and assert the expected response came.
    pub fn send(&self, world: &World, transport: SippTransport) {
        let path = world.scenario(&format!("uac-{}.xml", self.call_id), &self.scenario());
        let out = self
            .sipp(path)
            .transport(transport)
            .timeout(Duration::from_secs(20))
            .run_uac(world.sip_addr());
        assert!(
            out.success,
            "expected {} for {}:\n{}\n--- parley ---\n{}",
            self.expect,
            self.call_id,
            out.report(),
            world.parley.log()
        );
    }
}

/// The text of `<name xmlns='jabber:client'/>` under `el`.
pub fn child_text(el: &tokio_xmpp::minidom::Element, name: &str) -> Option<String> {
    el.get_child(name, "jabber:client").map(|c| c.text())
}

/// A sipp UAS scenario: receive one MESSAGE, check each `(header-or-"body", regex)`,
/// then answer `status` (or nothing at all when `status` is `None`).
pub fn uas_message(checks: &[(&str, &str)], status: Option<(u16, &str)>) -> String {
    let actions: String = checks
        .iter()
        .enumerate()
        .map(|(i, (where_, regex))| {
            let regex = xml_escape(regex);
            if *where_ == "body" {
                format!(
                    "<ereg regexp=\"{regex}\" search_in=\"body\" check_it=\"true\" assign_to=\"c{i}\"/>\n"
                )
            } else {
                format!(
                    "<ereg regexp=\"{regex}\" search_in=\"hdr\" header=\"{where_}:\" check_it=\"true\" assign_to=\"c{i}\"/>\n"
                )
            }
        })
        .collect();
    let answer = match status {
        Some((code, reason)) => format!(
            r#"<send><![CDATA[
SIP/2.0 {code} {reason}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]uas
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"#
        ),
        // Silent peer: swallow every retransmission until the client gives up.
        None => "<recv request=\"MESSAGE\" optional=\"true\" timeout=\"12000\" ontimeout=\"end\"/>\n<label id=\"end\"/>\n".to_owned(),
    };
    // sipp refuses variables that are assigned but never read: mark them used.
    let reference = if checks.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = (0..checks.len()).map(|i| format!("c{i}")).collect();
        format!("<Reference variables=\"{}\"/>\n", names.join(","))
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="uas-message">
<recv request="MESSAGE"><action>
{actions}</action></recv>
{reference}{answer}</scenario>
"#
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The error of an error stanza as `type/condition` (`wait/resource-constraint`).
pub fn error_condition(el: &tokio_xmpp::minidom::Element) -> Option<String> {
    let error = el.get_child("error", "jabber:client")?;
    error
        .children()
        .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name() != "text")
        .map(|c| format!("{}/{}", error.attr("type").unwrap_or_default(), c.name()))
}

/// Asserts that no error stanza reaches `client` within `wait`.
#[allow(dead_code)]
pub async fn assert_no_error(client: &mut XmppClient, wait: std::time::Duration) {
    let error = client
        .recv_matching(wait, |e| e.attr("type") == Some("error"))
        .await;
    assert!(error.is_none(), "unexpected error: {error:?}");
}

/// `[sessions]` on, MSRP on `msrp`, then `extra` lines of that section.
pub fn sessions_toml(msrp: SocketAddr, extra: &str) -> String {
    format!("[sessions]\nenabled = true\nmsrp_listen = \"{msrp}\"\n{extra}")
}
