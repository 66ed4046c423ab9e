//! A real ejabberd (attached through `deploy/ejabberd/parley.yml`) with
//! user juliet, and the real `parley` binary attached to it: for
//! `deploy_ejabberd.rs` and the chat-session tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use parley_harness::ejabberd::{Ejabberd, EjabberdConfig};
use parley_harness::parley::Parley;
use parley_harness::port::{free_tcp_port, free_udp_tcp_port};
use parley_harness::xmpp_client::XmppClient;

use crate::support::{COMPONENT, PASSWORD, XMPP_DOMAIN};

/// ejabberd with user juliet, and parley attached to it.
pub(crate) struct EjabberdWorld {
    pub(crate) ejabberd: Ejabberd,
    pub(crate) parley: Parley,
    /// Parley's SIP address (UDP and TCP).
    pub(crate) sip: SocketAddr,
    /// A directory the test may write to (the store is in it).
    pub(crate) dir: tempfile::TempDir,
}

impl EjabberdWorld {
    /// Chat sessions on: `sessions` are extra lines of `[sessions]`;
    /// `outbound_proxy` is `sip.outbound_proxy` (a phone, say).
    pub(crate) fn start(sessions: &str, outbound_proxy: Option<String>) -> EjabberdWorld {
        let msrp: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
        Self::with(
            &crate::support::sessions_toml(msrp, sessions),
            outbound_proxy,
        )
    }

    /// `extra` is appended to parley's config (whole TOML sections).
    pub(crate) fn with(extra: &str, outbound_proxy: Option<String>) -> EjabberdWorld {
        Self::with_muc(extra, outbound_proxy, None)
    }

    /// [`EjabberdWorld::with`], and `mod_muc` serving `muc` if given
    /// (`Ejabberd::start_with_muc`).
    pub(crate) fn with_muc(
        extra: &str,
        outbound_proxy: Option<String>,
        muc: Option<&str>,
    ) -> EjabberdWorld {
        let cfg = EjabberdConfig {
            domain: XMPP_DOMAIN.into(),
            component_domain: COMPONENT.into(),
            component_secret: "component-secret-for-ejabberd".into(),
        };
        let ejabberd = match muc {
            Some(muc) => Ejabberd::start_with_muc(cfg, muc),
            None => Ejabberd::start(cfg),
        };
        ejabberd.add_user("juliet", PASSWORD);
        let sip_port = free_udp_tcp_port();
        let metrics: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
        let dir = tempfile::tempdir().expect("temp dir");
        let proxy = outbound_proxy
            .map(|p| format!("outbound_proxy = \"{p}\"\n"))
            .unwrap_or_default();
        let config = format!(
            r#"
[xmpp]
component_domain = "{COMPONENT}"
server = "{server}"
secret = "{secret}"
reconnect_min_ms = 100
reconnect_max_ms = 1000

[sip]
domain = "{COMPONENT}"
listen = ["udp:127.0.0.1:{sip_port}", "tcp:127.0.0.1:{sip_port}"]
t1_ms = 100
{proxy}
[metrics]
listen = "{metrics}"

[store]
path = "{store}"

{extra}
"#,
            server = ejabberd.component_addr(),
            secret = ejabberd.component_secret(),
            store = dir.path().join("store").display(),
        );
        let parley = Parley::start(
            &PathBuf::from(env!("CARGO_BIN_EXE_parley")),
            &config,
            metrics,
        );
        // ejabberd alone took 14 s to start on a loaded 2-core CI machine
        // (deploy_ejabberd.rs); the handshake comes after it.
        parley.wait_ready(Duration::from_secs(30));
        EjabberdWorld {
            ejabberd,
            parley,
            sip: ([127, 0, 0, 1], sip_port).into(),
            dir,
        }
    }

    /// juliet logged in at ejabberd's c2s port.
    pub(crate) async fn juliet(&self) -> XmppClient {
        self.client("juliet").await
    }

    /// `user` (created with `ejabberd.add_user`, password [`PASSWORD`])
    /// logged in at ejabberd's c2s port.
    pub(crate) async fn client(&self, user: &str) -> XmppClient {
        XmppClient::connect_to(
            &self.ejabberd.c2s_addr(),
            &format!("{user}@{XMPP_DOMAIN}"),
            PASSWORD,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.ejabberd.log()))
    }
}
