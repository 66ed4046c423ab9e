//! What the trunk registration tests share: Prosody (so that only the
//! trunk decides `/readyz`) and the `parley` binary with a `[trunk]` section.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::PathBuf;

use parley_harness::parley::Parley;
use parley_harness::port::{free_tcp_port, free_udp_tcp_port};
use parley_harness::prosody::{Prosody, ProsodyConfig};

/// The carrier's domain: the realm and the AOR's host.
pub const DOMAIN: &str = "trunk.example.com";
/// Parley's component domain and SIP domain.
pub const COMPONENT: &str = "sip.example.net";
/// The trunk's username and AOR user.
pub const USER: &str = "parley-gw";
/// The password the registrar knows.
pub const PASSWORD: &str = "s3cret-trunk-pw";

/// Parley and what it needs besides a registrar.
pub struct Gateway {
    /// The running binary.
    pub parley: Parley,
    /// Its SIP port (UDP, 127.0.0.1).
    pub sip_port: u16,
    /// The XMPP server it is a component of.
    pub prosody: Prosody,
    /// Its store and the password file.
    pub dir: tempfile::TempDir,
}

/// Prosody (so that only the trunk decides `/readyz`) and Parley
/// registering at `registrar_uri` with `password` (from a file).
/// `outbound_proxy`: `sip.outbound_proxy`, when set.
pub fn start_gateway(
    registrar_uri: &str,
    outbound_proxy: Option<&str>,
    password: &str,
    expires: u32,
) -> Gateway {
    let prosody = Prosody::start(ProsodyConfig {
        domain: "xmpp.example".into(),
        component_domain: COMPONENT.into(),
        component_secret: "component-secret".into(),
    });
    let dir = tempfile::tempdir().expect("temp dir");
    // The password comes from a file, as a deployment's secret would.
    let password_file = dir.path().join("trunk-password");
    std::fs::write(&password_file, format!("{}\n", password)).expect("write password");
    let sip_port = free_udp_tcp_port();
    let metrics: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
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
listen = ["udp:127.0.0.1:{sip_port}"]
t1_ms = 100
{proxy}
[metrics]
listen = "{metrics}"

[store]
path = "{store}"

[shutdown]
grace_ms = 2000

[trunk]
registrar = "{registrar}"
aor = "sip:{USER}@{DOMAIN}"
username = "{USER}"
password_file = "{password_file}"
expires = {expires}
contact_user = "gw1"
retry_min_ms = 500
retry_max_ms = 2000
"#,
        server = prosody.component_addr(),
        store = dir.path().join("store").display(),
        registrar = registrar_uri,
        proxy = outbound_proxy
            .map(|p| format!("outbound_proxy = \"{p}\"\n"))
            .unwrap_or_default(),
        password_file = password_file.display(),
        expires = expires,
    );
    let parley = Parley::start(
        &PathBuf::from(env!("CARGO_BIN_EXE_parley")),
        &config,
        metrics,
    );
    Gateway {
        parley,
        sip_port,
        prosody,
        dir,
    }
}
