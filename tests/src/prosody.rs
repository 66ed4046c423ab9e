//! A real Prosody (Debian package `prosody`) on loopback, for end-to-end tests.
//!
//! Started as a child process in the foreground with its config and data in a
//! temporary directory, c2s and component ports picked free at run time, and
//! killed when dropped. Plaintext c2s with PLAIN allowed, so test clients need
//! no TLS; one XEP-0114 component section for the gateway, on a plain port
//! and optionally on a direct-TLS port ([`Prosody::start_with_component_tls`]);
//! optionally Prosody's own MUC component ([`Prosody::start_with_muc`]).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::pki::ServerCert;
use crate::port::free_tcp_port;

/// What the Prosody under test serves.
#[derive(Debug, Clone)]
pub struct ProsodyConfig {
    /// The VirtualHost for c2s users, e.g. `xmpp.example`.
    pub domain: String,
    /// The XEP-0114 component's domain, e.g. `sip.example`.
    pub component_domain: String,
    /// The component's shared secret.
    pub component_secret: String,
}

impl Default for ProsodyConfig {
    fn default() -> Self {
        Self {
            domain: "xmpp.example".into(),
            component_domain: "sip.example".into(),
            component_secret: "s3cret".into(),
        }
    }
}

/// A running Prosody child process.
#[derive(Debug)]
pub struct Prosody {
    /// The c2s port on 127.0.0.1.
    pub c2s_port: u16,
    /// The component port on 127.0.0.1.
    pub component_port: u16,
    /// The direct-TLS port on 127.0.0.1 (`ssl_ports`, `mod_net_multiplex`)
    /// that also takes component streams, if started with one.
    pub component_tls_port: Option<u16>,
    component_tls: Option<ServerCert>,
    /// The domain of the built-in MUC component (XEP-0045), if any.
    muc_domain: Option<String>,
    config: ProsodyConfig,
    dir: TempDir,
    child: Option<Child>,
}

/// How long Prosody gets to open its ports.
const START_TIMEOUT: Duration = Duration::from_secs(20);

impl Prosody {
    /// Write the config, start Prosody and wait until both ports accept.
    pub fn start(cfg: ProsodyConfig) -> Prosody {
        Self::start_with(cfg, None)
    }

    /// [`Prosody::start`] plus a direct-TLS port serving `cert`. Prosody 0.12
    /// has no TLS option on `component_ports` and offers no STARTTLS on a
    /// component stream; its `mod_net_multiplex` provides `multiplex_ssl`
    /// (ports `ssl_ports`), which takes TLS first and hands a stream in
    /// `jabber:component:accept` to the component listener.
    pub fn start_with_component_tls(cfg: ProsodyConfig, cert: &ServerCert) -> Prosody {
        Self::start_with(cfg, Some(cert.clone()))
    }

    /// [`Prosody::start`] plus its built-in MUC service (`Component
    /// "<muc_domain>" "muc"`). Rooms are usable as soon as created
    /// (`muc_room_locking = false`, no owner configuration needed), and
    /// only users of the parent domain may create them
    /// (`restrict_room_creation = "local"`, which compares the user's
    /// domain with `muc_domain` minus its first label): name it
    /// `rooms.<cfg.domain>` so that the c2s users can, while a SIP user
    /// (at the component domain) joining a room that does not exist gets
    /// `<not-allowed/>`.
    pub fn start_with_muc(cfg: ProsodyConfig, muc_domain: &str) -> Prosody {
        Self::start_full(cfg, None, Some(muc_domain.to_owned()))
    }

    fn start_with(cfg: ProsodyConfig, tls: Option<ServerCert>) -> Prosody {
        Self::start_full(cfg, tls, None)
    }

    fn start_full(
        cfg: ProsodyConfig,
        tls: Option<ServerCert>,
        muc_domain: Option<String>,
    ) -> Prosody {
        let dir = tempfile::Builder::new()
            .prefix("parley-prosody-")
            .tempdir()
            .expect("create a temp dir for Prosody");
        fs::create_dir_all(dir.path().join("data")).expect("create Prosody data dir");
        let c2s_port = free_tcp_port();
        let mut component_port = free_tcp_port();
        while component_port == c2s_port {
            component_port = free_tcp_port();
        }
        let component_tls_port = tls.as_ref().map(|_| {
            loop {
                let port = free_tcp_port();
                if port != c2s_port && port != component_port {
                    break port;
                }
            }
        });
        let mut prosody = Prosody {
            c2s_port,
            component_port,
            component_tls_port,
            component_tls: tls,
            muc_domain,
            config: cfg,
            dir,
            child: None,
        };
        fs::write(prosody.config_path(), prosody.config_text()).expect("write prosody.cfg.lua");
        prosody.spawn();
        prosody
    }

    /// Create c2s user `user@domain` with `prosodyctl` and the same config.
    pub fn add_user(&self, user: &str, password: &str) {
        let out = Command::new("prosodyctl")
            .arg("--config")
            .arg(self.config_path())
            .args(["register", user, &self.config.domain, password])
            .stdin(Stdio::null())
            .output()
            .expect("run prosodyctl (is the prosody package installed?)");
        assert!(
            out.status.success(),
            "prosodyctl register {user} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Write `user`'s roster straight into Prosody's internal storage, each
    /// item `(bare JID, subscription)` (`none`, `to`, `from`, `both`): a
    /// subscription state without the stanza exchange that would make it.
    /// Call it before anything loads that roster (her login, a probe to her):
    /// Prosody caches loaded rosters.
    pub fn set_roster(&self, user: &str, items: &[(&str, &str)]) {
        // util/datamanager.lua: every non-alphanumeric character as %xx.
        let encode = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_string()
                    } else {
                        format!("%{:02x}", c as u32)
                    }
                })
                .collect()
        };
        let dir = self
            .dir
            .path()
            .join("data")
            .join(encode(&self.config.domain))
            .join("roster");
        fs::create_dir_all(&dir).expect("create Prosody roster dir");
        let mut lua =
            String::from("return {\n\t[false] = { [\"version\"] = 1; [\"pending\"] = {}; };\n");
        for (jid, subscription) in items {
            lua.push_str(&format!(
                "\t[{jid:?}] = {{ [\"subscription\"] = {subscription:?}; [\"groups\"] = {{}}; }};\n"
            ));
        }
        lua.push_str("};\n");
        fs::write(dir.join(format!("{}.dat", encode(user))), lua).expect("write roster");
    }

    /// Stop Prosody (SIGTERM, then SIGKILL after 5 s). Idempotent.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            crate::process::terminate(child, Duration::from_secs(5));
        }
    }

    /// Stop and start again with the same ports, config and data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// `127.0.0.1:<component_port>`, for the component's `server` setting.
    pub fn component_addr(&self) -> String {
        format!("127.0.0.1:{}", self.component_port)
    }

    /// `127.0.0.1:<component_tls_port>`, for `server` with `tls = "direct"`.
    pub fn component_tls_addr(&self) -> Option<String> {
        self.component_tls_port
            .map(|port| format!("127.0.0.1:{port}"))
    }

    /// `127.0.0.1:<c2s_port>`.
    pub fn c2s_addr(&self) -> String {
        format!("127.0.0.1:{}", self.c2s_port)
    }

    /// The c2s VirtualHost.
    pub fn domain(&self) -> &str {
        &self.config.domain
    }

    /// The component's domain.
    pub fn component_domain(&self) -> &str {
        &self.config.component_domain
    }

    /// The component's secret.
    pub fn component_secret(&self) -> &str {
        &self.config.component_secret
    }

    /// Prosody's log so far (for failure messages).
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(self.log_path()) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("prosody.cfg.lua")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("prosody.log")
    }

    fn spawn(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open Prosody log");
        let child = Command::new("prosody")
            .arg("--config")
            .arg(self.config_path())
            .arg("-F")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("start prosody (is the prosody package installed?)");
        let mut child = child;
        let mut ports = vec![self.c2s_port, self.component_port];
        ports.extend(self.component_tls_port);
        crate::process::wait_listening("prosody", &mut child, &ports, START_TIMEOUT, || self.log());
        self.child = Some(child);
    }

    fn config_text(&self) -> String {
        let data = lua_string(&self.dir.path().join("data"));
        let pid = lua_string(&self.dir.path().join("prosody.pid"));
        let certs = lua_string(self.dir.path());
        let mut modules =
            String::from(r#""roster", "saslauth", "disco", "ping", "posix", "offline""#);
        let tls = match (&self.component_tls, self.component_tls_port) {
            (Some(cert), Some(port)) => {
                modules.push_str(r#", "net_multiplex""#);
                format!(
                    "ssl_ports = {{ {port} }}\nssl_interfaces = {{ \"127.0.0.1\" }}\nssl = {{ certificate = {}, key = {} }}\n",
                    lua_string(&cert.cert),
                    lua_string(&cert.key)
                )
            }
            _ => String::new(),
        };
        let muc = self
            .muc_domain
            .as_ref()
            .map(|d| {
                format!(
                    "\nComponent \"{d}\" \"muc\"\n    muc_room_locking = false\n    restrict_room_creation = \"local\"\n"
                )
            })
            .unwrap_or_default();
        format!(
            r#"-- Written by parley-harness for one test run.
run_as_root = true
pidfile = {pid}
data_path = {data}
certificates = {certs}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
c2s_direct_tls_ports = {{}}
s2s_ports = {{}}
component_ports = {{ {component} }}
component_interface = "127.0.0.1"
http_ports = {{}}
https_ports = {{}}
{tls}c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
log = {{ {{ levels = {{ min = "{log_level}" }}, to = "console" }} }}
modules_enabled = {{ {modules} }}
modules_disabled = {{ "s2s", "tls" }}

VirtualHost "{domain}"

Component "{component_domain}"
    component_secret = "{secret}"
{muc}"#,
            // PARLEY_PROSODY_LOG=debug shows every stanza in `Prosody::log`.
            log_level = std::env::var("PARLEY_PROSODY_LOG").unwrap_or_else(|_| "info".into()),
            c2s = self.c2s_port,
            component = self.component_port,
            domain = self.config.domain,
            component_domain = self.config.component_domain,
            secret = self.config.component_secret,
        )
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lua_string(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}
