//! A real Kamailio (Debian package `kamailio`, its `msrp` module) acting as
//! an MSRP relay (RFC 4976) on loopback, for end-to-end tests.
//!
//! The config is written here, from the `msrp` module's documentation (its
//! `event_route[msrp:frame-in]`, `msrp_reply`, `msrp_relay`,
//! `msrp_set_dst`, `msrp_relay_flags` and `$msrp(...)` variables) and the
//! `auth` module's `pv_www_authenticate`; one plain TCP socket (`msrp`, no
//! TLS) on a free port of 127.0.0.1. What the relay does, clause by clause:
//!
//! - AUTH (§6.3): challenged with HTTP Digest (§5.1: "a relay MUST respond
//!   with a "401 Unauthorized" response containing a WWW-Authenticate
//!   header"; §9.1: `qop="auth"`), one fixed credential ([`USER`],
//!   [`PASSWORD`], realm [`REALM`]); a good one gets 200 with `Use-Path:`
//!   a URI of this relay whose session part is new, and `Expires:`. The URI
//!   is bound to the connection the AUTH came on (§6.3: "If the previous hop
//!   is a client, then the URI MUST only be valid to route across the same
//!   connection over which the AUTH request was received"): the relay keeps
//!   that connection's id, address and socket in an `htable` under the
//!   session part.
//! - SEND and REPORT (§6.4): the first To-Path URI must be one the relay
//!   handed out, else the request is dropped (§6.3: "the relay MUST discard
//!   the message"). Coming in on the client's own connection, the request
//!   goes on to the next To-Path URI, over a connection the relay opens or
//!   reuses; coming from anywhere else, it goes to the client, over the
//!   client's connection only. Either way `msrp_relay()` moves the relay's
//!   URI from the head of To-Path to the head of From-Path (§6.4.1). A SEND
//!   gets the relay's own 200 first (§6.4.1: "MUST respond with a final
//!   response immediately", "sent only to the previous hop"), unless its
//!   `Failure-Report` is `no` (RFC 4975 §7.1.4: no transaction response).
//! - Responses: `msrp_relay()` forwards those whose To-Path goes on (AUTH's);
//!   a SEND's 200 ends at the relay (RFC 4975 §7.2: "Responses to SEND
//!   requests are returned only to the previous hop").
//!
//! Why `htable` and not the module's `msrp_cmap_save`/`msrp_cmap_lookup`:
//! the lookup keys on the session part of the first To-Path URI, which is
//! the same whichever way a request goes, and no variable says which
//! connection the entry holds. The docs' cmap example, tried with Kamailio
//! 5.6 and a far end without a relay, sent the client's own SEND back to
//! the client. Keeping the connection id in `htable` tells the two
//! directions apart.
//!
//! What it does not do, Kamailio's module not offering it: the
//! `Authentication-Info` header §9.1 asks of a relay's 200 to AUTH; the 30 s
//! timer and 408 REPORT of §6.4.1; fresh transaction ids per hop (§6.4
//! "will generally need to"; the module keeps the sender's). The session
//! part of a Use-Path URI is three `$RANDOM` values (cfgutils), not the 64
//! bits of "cryptographically random material" §6.3 asks for: a test relay.

use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::port::free_tcp_port;

/// The user name the relay accepts in AUTH's Digest credentials.
pub const USER: &str = "peer";
/// Its password.
pub const PASSWORD: &str = "relay-pw-for-tests";
/// The realm of the relay's challenges (§5.1: "it is not unreasonable to
/// always use the relay's hostname as the realm").
pub const REALM: &str = "127.0.0.1";
/// The `Expires` of a Use-Path URI, seconds (within the module's defaults
/// for `auth_min_expires` and `auth_max_expires`, 60 and 3600).
pub const EXPIRES_S: u32 = 600;

/// Where Debian's `kamailio` package puts its modules.
const MODULES: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

/// How long Kamailio gets to open its port.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running Kamailio MSRP relay.
#[derive(Debug)]
pub struct KamailioMsrp {
    /// Its MSRP port (TCP) on 127.0.0.1.
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl KamailioMsrp {
    /// Write the config, start Kamailio in the foreground (`-DD`, log to
    /// stderr with `-E`, collected in the temp dir) and wait until its TCP
    /// port accepts.
    pub fn start() -> KamailioMsrp {
        let dir = tempfile::Builder::new()
            .prefix("parley-kamailio-msrp-")
            .tempdir()
            .expect("create a temp dir for Kamailio");
        let port = free_tcp_port();
        let config = dir.path().join("msrp-relay.cfg");
        fs::write(&config, relay_config(port)).expect("write the relay config");
        let log = fs::File::create(dir.path().join("kamailio.log")).expect("open Kamailio log");
        let mut child = Command::new("kamailio")
            .args(["-DD", "-E", "-m", "16", "-M", "4", "-f"])
            .arg(&config)
            .arg("-Y")
            .arg(dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("start kamailio (is the kamailio package installed?)");
        let mut relay = KamailioMsrp {
            port,
            dir,
            child: None,
        };
        crate::process::wait_listening(
            "kamailio (MSRP relay)",
            &mut child,
            &[port],
            START_TIMEOUT,
            || relay.log(),
        );
        relay.child = Some(child);
        relay
    }

    /// Its TCP address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The URI a client AUTHs to (§5.1 example: the relay's URI, no
    /// session part): `msrp://127.0.0.1:<port>;tcp`.
    pub fn uri(&self) -> String {
        format!("msrp://127.0.0.1:{};tcp", self.port)
    }

    /// Kamailio's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Stop Kamailio (SIGTERM, SIGKILL after 5 s). Idempotent.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            crate::process::terminate(child, Duration::from_secs(5));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("kamailio.log")
    }
}

impl Drop for KamailioMsrp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The relay's config, listening on `port`. Each frame is logged
/// (`msrp-relay: <method> ...`) so a failing test shows what crossed.
fn relay_config(port: u16) -> String {
    format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=2
auto_aliases=no
# MSRP frames carry no Content-Length.
tcp_accept_no_cl=yes
listen=tcp:127.0.0.1:{port}
mpath="{MODULES}"

loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "cfgutils.so"
loadmodule "xlog.so"
loadmodule "auth.so"
loadmodule "htable.so"
loadmodule "msrp.so"

# RFC 4976 §9.1: a qop in every challenge, never auth-int.
modparam("auth", "qop", "auth")
# Use-Path session part => the client's connection (id, address, socket).
modparam("htable", "htable", "client=>size=4;autoexpire={EXPIRES_S};")

request_route {{
	sl_send_reply("403", "MSRP only");
	exit;
}}

event_route[msrp:frame-in] {{
	xlog("L_INFO", "msrp-relay: method=$msrp(method) code=$msrp(code) transid=$msrp(transid) conid=$msrp(conid) from=$msrp(srcaddr) nexthops=$msrp(nexthops) sessid=$msrp(sessid)\n");
	if (msrp_is_reply()) {{
		msrp_relay();
		exit;
	}}
	if ($msrp(method) == "AUTH") {{
		if ($msrp(nexthops) > 0) {{
			msrp_reply("403", "Forbidden");
			exit;
		}}
		if (!pv_www_authenticate("{REALM}", "{PASSWORD}", "0", "AUTH")) {{
			if (auth_get_www_authenticate("{REALM}", "1", "$var(challenge)")) {{
				msrp_reply("401", "Unauthorized", "$var(challenge)");
			}} else {{
				msrp_reply("500", "Server Error");
			}}
			exit;
		}}
		if ($au != "{USER}") {{
			msrp_reply("403", "Forbidden");
			exit;
		}}
		$var(sid) = "r" + $RANDOM + "x" + $RANDOM + "x" + $RANDOM;
		$sht(client=>$var(sid)::conid) = $msrp(conid);
		$sht(client=>$var(sid)::addr) = $msrp(srcaddr);
		$sht(client=>$var(sid)::sock) = $msrp(srcsock);
		xlog("L_INFO", "msrp-relay: granted msrp://127.0.0.1:{port}/$var(sid);tcp on conid=$msrp(conid)\n");
		msrp_reply("200", "OK", "Use-Path: msrp://127.0.0.1:{port}/$var(sid);tcp\r\nExpires: {EXPIRES_S}\r\n");
		exit;
	}}
	$var(sid) = $msrp(sessid);
	if ($sht(client=>$var(sid)::conid) == $null) {{
		xlog("L_WARN", "msrp-relay: dropped, To-Path does not start with a URI handed out\n");
		exit;
	}}
	if ($msrp(conid) != $sht(client=>$var(sid)::conid)) {{
		# Toward the client: over its own connection, never a new one.
		msrp_relay_flags("1");
		msrp_set_dst("$sht(client=>$var(sid)::addr)", "$sht(client=>$var(sid)::sock)");
	}}
	if ($msrp(method) == "SEND" && $hdr(Failure-Report) != "no") {{
		msrp_reply("200", "OK");
	}}
	if (!msrp_relay()) {{
		xlog("L_WARN", "msrp-relay: $msrp(method) $msrp(transid) not relayed\n");
	}}
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_listens_only_on_its_tcp_port() {
        let config = relay_config(4321);
        let listens: Vec<&str> = config
            .lines()
            .filter(|l| l.starts_with("listen="))
            .collect();
        assert_eq!(listens, ["listen=tcp:127.0.0.1:4321"]);
        assert!(
            config.contains("Use-Path: msrp://127.0.0.1:4321/"),
            "{config}"
        );
    }
}
