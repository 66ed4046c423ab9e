//! A real Kamailio (Debian package `kamailio`) as a carrier's registrar with
//! digest authentication, for Parley's trunk registration (issue 22 item 5).
//!
//! Modules: `registrar` and `usrloc` (bindings in memory), `auth` and
//! `auth_db` over `db_text` (a `subscriber` table written into a temporary
//! directory, plain passwords, `calculate_ha1`), and `jsonrpcs` on a Unix
//! datagram socket, through which [`Registrar::ul_dump`] reads the location
//! table (the `ul.dump` RPC) without `kamctl`. Any other request is relayed
//! to the AOR's registered contact (`lookup("location")`), or refused with
//! `404 Not Registered`. Started in the foreground like `kamailio.rs`, on a
//! free UDP+TCP port on 127.0.0.1; [`Registrar::restart`] stops it and starts
//! it again on the same port with an empty location table.

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::port::free_udp_tcp_port;

/// What the registrar serves.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// The domain (the digest realm, and the AORs' host).
    pub domain: String,
    /// The one subscriber: username and password.
    pub username: String,
    /// The subscriber's password.
    pub password: String,
    /// `registrar`'s `min_expires`: shorter intervals get 423 (RFC 3261 §10.3 step 7).
    pub min_expires: u32,
    /// `registrar`'s `max_expires`: longer ones are cut down (0: no limit).
    pub max_expires: u32,
    /// `auth`'s `algorithm` for its challenges: `MD5` or `SHA-256` (RFC 8760).
    pub algorithm: &'static str,
    /// `auth`'s `nonce_expire`, seconds: an older nonce gets a new
    /// challenge with `stale=true` (RFC 7616 §3.3).
    pub nonce_expire: u32,
}

/// A running registrar.
#[derive(Debug)]
pub struct Registrar {
    /// The SIP port, UDP and TCP, on 127.0.0.1.
    pub port: u16,
    config: RegistrarConfig,
    dir: TempDir,
    child: Option<Child>,
}

/// How long Kamailio gets to open its ports.
const START_TIMEOUT: Duration = Duration::from_secs(20);

impl Registrar {
    /// Writes the config and the `db_text` tables, starts Kamailio and waits
    /// until its TCP socket accepts.
    pub fn start(config: RegistrarConfig) -> Registrar {
        let dir = tempfile::Builder::new()
            .prefix("parley-registrar-")
            .tempdir()
            .expect("create a temp dir for the registrar");
        let mut registrar = Registrar {
            port: free_udp_tcp_port(),
            config,
            dir,
            child: None,
        };
        registrar.write_files();
        registrar.spawn();
        registrar
    }

    /// The registrar's URI, `sip:127.0.0.1:<port>`, for Parley's `trunk.registrar`.
    pub fn uri(&self) -> String {
        format!("sip:127.0.0.1:{}", self.port)
    }

    /// Kamailio's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("kamailio.log")).unwrap_or_default()
    }

    /// Stop Kamailio (SIGTERM, SIGKILL after 5 s). Idempotent.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            crate::process::terminate(child, Duration::from_secs(5));
        }
    }

    /// Start it again on the same port (after [`Registrar::stop`]), with an
    /// empty location table.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The location table as the `ul.dump` RPC returns it (JSON text), or
    /// why it could not be read.
    pub fn ul_dump(&self) -> Result<String, String> {
        let ours = self.dir.path().join(format!(
            "client-{}.sock",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        let socket = UnixDatagram::bind(&ours).map_err(|e| format!("bind {ours:?}: {e}"))?;
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let request = r#"{"jsonrpc": "2.0", "method": "ul.dump", "id": 1}"#;
        socket
            .send_to(request.as_bytes(), self.rpc_socket())
            .map_err(|e| format!("send to {:?}: {e}", self.rpc_socket()))?;
        let mut buf = vec![0u8; 256 * 1024];
        let n = socket
            .recv(&mut buf)
            .map_err(|e| format!("no answer: {e}"))?;
        let _ = fs::remove_file(&ours);
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Waits until `ul.dump` holds `needle`; the dump, or an error with the
    /// last dump after `timeout`.
    pub fn wait_binding(&self, needle: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let dump = self.ul_dump();
            if let Ok(d) = &dump
                && d.contains(needle)
            {
                return dump;
            }
            if Instant::now() >= deadline {
                return Err(format!("{needle} not in ul.dump: {dump:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn rpc_socket(&self) -> PathBuf {
        self.dir.path().join("rpc.sock")
    }

    fn write_files(&self) {
        let db = self.dir.path().join("db");
        fs::create_dir_all(&db).expect("create db_text dir");
        // db_text: a header line of `name(type[,flags])` columns, then rows
        // of `:`-separated values. `version` lists each table's schema
        // version, which auth_db checks (subscriber: 7 in Kamailio 5.6).
        fs::write(
            db.join("version"),
            "table_name(string) table_version(int)\nsubscriber:7\n",
        )
        .expect("write version table");
        let c = &self.config;
        fs::write(
            db.join("subscriber"),
            format!(
                "id(int,auto) username(string) domain(string) password(string) ha1(string,null) ha1b(string,null)\n1:{}:{}:{}:::\n",
                c.username, c.domain, c.password
            ),
        )
        .expect("write subscriber table");
        fs::write(self.dir.path().join("registrar.cfg"), self.cfg(&db)).expect("write cfg");
    }

    fn cfg(&self, db: &Path) -> String {
        let c = &self.config;
        let port = self.port;
        format!(
            r#"#!KAMAILIO
debug=2
children=2
tcp_children=2
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
alias="{domain}"

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "db_text.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
# Transport 4: the Unix datagram socket only (a bit mask: 1 HTTP, 2 FIFO, 4 datagram).
loadmodule "jsonrpcs.so"

modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", {min})
modparam("registrar", "max_expires", {max})
# 1: an interval below min_expires gets 423 with Min-Expires (RFC 3261 §10.3 step 7).
modparam("registrar", "min_expires_mode", 1)
modparam("auth", "algorithm", "{algorithm}")
modparam("auth", "nonce_expire", {nonce_expire})
modparam("auth_db", "db_url", "text://{db}")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
modparam("jsonrpcs", "transport", 4)
modparam("jsonrpcs", "dgram_socket", "{rpc}")

request_route {{
	if (!mf_process_maxfwd_header("10")) {{
		sl_send_reply("483", "Too Many Hops");
		exit;
	}}
	if (is_method("REGISTER")) {{
		if (!www_authorize("{domain}", "subscriber")) {{
			xlog("L_NOTICE", "registrar: challenge for $fu (auth result $rc) nonce $adn\n");
			# Flags 1: qop=auth in the challenge (RFC 7616 §3.3).
			www_challenge("{domain}", "1");
			exit;
		}}
		if (!save("location")) {{
			sl_reply_error();
		}}
		xlog("L_NOTICE", "registrar: saved $tu contact $ct expires $hdr(Expires) cseq $cs callid $ci auth $hdr(Authorization)\n");
		exit;
	}}
	if (!lookup("location")) {{
		sl_send_reply("404", "Not Registered");
		exit;
	}}
	t_relay();
	exit;
}}
"#,
            domain = c.domain,
            algorithm = c.algorithm,
            nonce_expire = c.nonce_expire,
            min = c.min_expires,
            max = c.max_expires,
            db = db.display(),
            rpc = self.rpc_socket().display(),
        )
    }

    fn spawn(&mut self) {
        let log_path = self.dir.path().join("kamailio.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open Kamailio log");
        let _ = fs::remove_file(self.rpc_socket());
        let mut child = Command::new("kamailio")
            .args(["-DD", "-E", "-m", "16", "-M", "4", "-f"])
            .arg(self.dir.path().join("registrar.cfg"))
            .arg("-Y")
            .arg(self.dir.path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("start kamailio (is the kamailio package installed?)");
        crate::process::wait_listening("kamailio", &mut child, &[self.port], START_TIMEOUT, || {
            self.log()
        });
        self.child = Some(child);
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        self.stop();
    }
}
