//! A real ejabberd (Debian package `ejabberd`) on loopback, for end-to-end tests.
//!
//! Started as one child process: the Erlang VM (`erl`, which execs
//! `beam.smp`) running the `ejabberd` application in the foreground, with its
//! config, Mnesia spool and logs in a temporary directory, c2s, component and
//! HTTP ports picked free at run time, and stopped when dropped.
//!
//! Why not `ejabberdctl foreground`: as root it re-executes itself as the
//! `ejabberd` system user through `su` (so a temp dir would have to belong to
//! that user, and the VM would be a grandchild behind `su`), and as any other
//! user it refuses to run. And why no `ejabberdctl register`: it reaches the
//! node over Erlang distribution, which needs a node name, a cookie and epmd
//! (a daemon that outlives the test). Here the VM runs without distribution
//! (node `nonode@nohost`, no epmd, no cookie) and users are created with
//! ejabberd's own admin API, `mod_http_api`'s `register` command, allowed from
//! loopback only.
//!
//! The component listener is `deploy/ejabberd/parley.yml` itself, included
//! with `include_config_file` after its port, domain and password are filled
//! in, so that what the tests exercise is the snippet admins are told to use.
//! c2s is plaintext with no STARTTLS, so test clients need no TLS. The
//! component port can speak direct TLS ([`Ejabberd::start_with_component_tls`]).
//! `mod_muc` can serve a MUC domain ([`Ejabberd::start_with_muc`]).

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::pki::ServerCert;
use crate::port::free_tcp_port;

/// The deployment snippet under test, relative to this crate.
const SNIPPET: &str = "../deploy/ejabberd/parley.yml";

/// What the ejabberd under test serves.
#[derive(Debug, Clone)]
pub struct EjabberdConfig {
    /// The host for c2s users, e.g. `xmpp.example`.
    pub domain: String,
    /// The XEP-0114 component's domain, e.g. `sip.example`.
    pub component_domain: String,
    /// The component's shared secret.
    pub component_secret: String,
}

impl Default for EjabberdConfig {
    fn default() -> Self {
        Self {
            domain: "xmpp.example".into(),
            component_domain: "sip.example".into(),
            component_secret: "s3cret".into(),
        }
    }
}

/// A running ejabberd child process.
#[derive(Debug)]
pub struct Ejabberd {
    /// The c2s port on 127.0.0.1.
    pub c2s_port: u16,
    /// The component port on 127.0.0.1.
    pub component_port: u16,
    /// The HTTP admin API port on 127.0.0.1 (`/api`, loopback only).
    pub http_port: u16,
    /// Whether the component port speaks direct TLS (`tls: true`).
    pub component_tls: bool,
    config: EjabberdConfig,
    /// The domain `mod_muc` serves (XEP-0045), if any.
    muc_domain: Option<String>,
    dir: TempDir,
    child: Option<Child>,
}

/// How long ejabberd gets to open its ports.
const START_TIMEOUT: Duration = Duration::from_secs(30);

impl Ejabberd {
    /// Write the config (with the deployment snippet), start ejabberd and wait
    /// until its c2s, component and HTTP ports accept.
    pub fn start(cfg: EjabberdConfig) -> Ejabberd {
        Self::start_with(cfg, None, None)
    }

    /// [`Ejabberd::start`] plus `mod_muc` serving `muc_domain` (XEP-0045).
    /// Only users of `cfg.domain` may create rooms (`access_create` is a
    /// rule allowing the ACL `server: <domain>`), so a component's user
    /// (a SIP user at `cfg.component_domain`) joining a room that does not
    /// exist gets `<forbidden/>` ("Room creation is denied by service
    /// policy", ejabberd 23.01 `mod_muc:route_to_room`); every user may
    /// join an existing room (`access: all`). ejabberd does not lock a new
    /// room (XEP-0045 §10.1.1's locking is Prosody's `muc_room_locking`):
    /// it is usable as soon as its creator's self-presence (status 201)
    /// arrives. Rooms are not persistent: each test makes its own.
    pub fn start_with_muc(cfg: EjabberdConfig, muc_domain: &str) -> Ejabberd {
        Self::start_with(cfg, None, Some(muc_domain.to_owned()))
    }

    /// [`Ejabberd::start`] with direct TLS on the component port: the
    /// snippet's `ejabberd_service` listener gets `tls: true` and `certfile:`
    /// (`cert` and its key in one PEM file, as ejabberd reads it). What
    /// ejabberd 23.01 offers there: TLS from the first byte, no STARTTLS.
    pub fn start_with_component_tls(cfg: EjabberdConfig, cert: &ServerCert) -> Ejabberd {
        Self::start_with(cfg, Some(cert), None)
    }

    fn start_with(
        cfg: EjabberdConfig,
        tls: Option<&ServerCert>,
        muc_domain: Option<String>,
    ) -> Ejabberd {
        let dir = tempfile::Builder::new()
            .prefix("parley-ejabberd-")
            .tempdir()
            .expect("create a temp dir for ejabberd");
        for sub in ["spool", "log"] {
            fs::create_dir_all(dir.path().join(sub)).expect("create ejabberd dirs");
        }
        let mut ports = Vec::new();
        while ports.len() < 3 {
            let port = free_tcp_port();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        let mut ejabberd = Ejabberd {
            c2s_port: ports[0],
            component_port: ports[1],
            http_port: ports[2],
            component_tls: tls.is_some(),
            config: cfg,
            muc_domain,
            dir,
            child: None,
        };
        let snippet = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(SNIPPET))
            .expect("read deploy/ejabberd/parley.yml");
        let component = fill_snippet(
            &snippet,
            ejabberd.component_port,
            &ejabberd.config.component_domain,
            &ejabberd.config.component_secret,
        )
        .unwrap_or_else(|e| panic!("deploy/ejabberd/parley.yml: {e}"));
        let component = match tls {
            None => component,
            Some(cert) => {
                let pem = ejabberd.dir.path().join("component.pem");
                let mut both = fs::read(&cert.cert).expect("read the server certificate");
                both.extend(fs::read(&cert.key).expect("read the server key"));
                fs::write(&pem, both).expect("write component.pem");
                with_component_tls(&component, &pem)
                    .unwrap_or_else(|e| panic!("deploy/ejabberd/parley.yml: {e}"))
            }
        };
        fs::write(ejabberd.snippet_path(), component).expect("write parley.yml");
        fs::write(ejabberd.config_path(), ejabberd.config_text()).expect("write ejabberd.yml");
        ejabberd.spawn();
        ejabberd
    }

    /// Create c2s user `user@domain` through the admin API (`register`).
    pub fn add_user(&self, user: &str, password: &str) {
        let body = format!(
            "{{\"user\":{},\"host\":{},\"password\":{}}}",
            json_string(user),
            json_string(&self.config.domain),
            json_string(password)
        );
        let (status, reply) = self
            .http_post("/api/register", &body)
            .unwrap_or_else(|e| panic!("POST /api/register: {e}\n{}", self.log()));
        assert_eq!(
            status,
            200,
            "registering {user} failed: {reply}\n{}",
            self.log()
        );
    }

    /// Stop ejabberd (SIGTERM, which the VM turns into an orderly
    /// `init:stop()`, then SIGKILL after 5 s). Idempotent.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            crate::process::terminate(child, Duration::from_secs(5));
        }
    }

    /// Stop and start again with the same ports, config and spool.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// `127.0.0.1:<component_port>`, for the component's `server` setting.
    pub fn component_addr(&self) -> String {
        format!("127.0.0.1:{}", self.component_port)
    }

    /// `127.0.0.1:<c2s_port>`.
    pub fn c2s_addr(&self) -> String {
        format!("127.0.0.1:{}", self.c2s_port)
    }

    /// The c2s host.
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

    /// ejabberd's log and the VM's own output so far (for failure messages).
    pub fn log(&self) -> String {
        let read = |p: PathBuf| fs::read_to_string(p).unwrap_or_default();
        format!(
            "{}{}",
            read(self.dir.path().join("log").join("ejabberd.log")),
            read(self.dir.path().join("erl.out"))
        )
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("ejabberd.yml")
    }

    fn snippet_path(&self) -> PathBuf {
        self.dir.path().join("parley.yml")
    }

    fn spawn(&mut self) {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("erl.out"))
            .expect("open the VM's output file");
        let spool = self.dir.path().join("spool");
        let child = Command::new("erl")
            // What `ejabberdctl foreground` runs, minus distribution:
            // `-mnesia dir` is an Erlang term (a quoted string).
            .args(["-noinput", "+K", "true", "-mnesia", "dir"])
            .arg(format!("{:?}", spool.display().to_string()))
            .args(["-s", "ejabberd"])
            .env("ERL_LIBS", erl_libs())
            .env("EJABBERD_CONFIG_PATH", self.config_path())
            .env(
                "EJABBERD_LOG_PATH",
                self.dir.path().join("log").join("ejabberd.log"),
            )
            .env("ERL_CRASH_DUMP", self.dir.path().join("erl_crash.dump"))
            .env("ERL_CRASH_DUMP_BYTES", "0")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone output handle"))
            .stderr(out)
            .spawn()
            .expect("start erl (is the ejabberd package installed?)");
        let mut child = child;
        crate::process::wait_listening(
            "ejabberd",
            &mut child,
            &[self.c2s_port, self.component_port, self.http_port],
            START_TIMEOUT,
            || self.log(),
        );
        self.child = Some(child);
    }

    /// The `acl`, the `muc_create` access rule and the `mod_muc` module of
    /// [`Ejabberd::start_with_muc`]; empty without a MUC domain.
    fn muc_text(&self) -> (String, String, String) {
        let Some(muc) = &self.muc_domain else {
            return Default::default();
        };
        (
            format!(
                "acl:\n  domain_users:\n    server: {:?}\n",
                self.config.domain
            ),
            "  muc_create:\n    allow: domain_users\n".to_owned(),
            format!(
                "  mod_muc:\n    hosts:\n      - {muc:?}\n    access: all\n    \
                 access_create: muc_create\n    access_persistent: muc_create\n"
            ),
        )
    }

    fn config_text(&self) -> String {
        let (acl, muc_rule, muc_module) = self.muc_text();
        format!(
            r#"# Written by parley-harness for one test run.
loglevel: {log_level}
hosts:
  - "{domain}"
certfiles: []
auth_method: internal
auth_password_format: scram
listen:
  -
    port: {c2s}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: false
    starttls_required: false
  -
    port: {http}
    ip: "127.0.0.1"
    module: ejabberd_http
    request_handlers:
      /api: mod_http_api
api_permissions:
  "register from loopback":
    who:
      ip: 127.0.0.1/8
    what:
      - register
{acl}access_rules:
  c2s:
    allow: all
{muc_rule}modules:
  mod_disco: {{}}
  mod_ping: {{}}
  mod_roster: {{}}
  mod_offline: {{}}
  mod_http_api: {{}}
{muc_module}include_config_file:
  - {snippet:?}
"#,
            // PARLEY_EJABBERD_LOG=debug shows every stanza in `Ejabberd::log`.
            log_level = std::env::var("PARLEY_EJABBERD_LOG").unwrap_or_else(|_| "info".into()),
            domain = self.config.domain,
            c2s = self.c2s_port,
            http = self.http_port,
            snippet = self.snippet_path().display().to_string(),
        )
    }

    fn http_post(&self, path: &str, body: &str) -> Result<(u16, String), String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.http_port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        write!(
            s,
            "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .map_err(|e| e.to_string())?;
        let mut text = String::new();
        s.read_to_string(&mut text).map_err(|e| e.to_string())?;
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP response: {text}"))?;
        let reply = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, reply))
    }
}

impl Drop for Ejabberd {
    /// SIGKILL: the orderly stop takes seconds (up to 13 s measured on a loaded
    /// machine) and nothing of this run is kept; the VM's helper processes
    /// (`erl_child_setup`, `inet_gethost`) exit with it and no epmd was started.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The snippet with its example values replaced: `port: 5347`, the domain
/// `"sip.example.net"` and the password `"change-me"` must each occur exactly once.
pub fn fill_snippet(
    snippet: &str,
    port: u16,
    domain: &str,
    secret: &str,
) -> Result<String, String> {
    // Only the YAML, not the comments, carries the values.
    let yaml: String = snippet
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut text = yaml;
    for (from, to) in [
        ("port: 5347", format!("port: {port}")),
        ("\"sip.example.net\"", format!("{domain:?}")),
        ("\"change-me\"", format!("{secret:?}")),
    ] {
        let n = text.matches(from).count();
        if n != 1 {
            return Err(format!("expected `{from}` once, found it {n} times"));
        }
        text = text.replace(from, &to);
    }
    Ok(text)
}

/// The filled snippet with `tls: true` and `certfile: <pem>` added to its
/// `ejabberd_service` listener (the line `module: ejabberd_service` must occur once).
pub fn with_component_tls(snippet: &str, pem: &Path) -> Result<String, String> {
    let line = snippet
        .lines()
        .filter(|l| l.trim() == "module: ejabberd_service")
        .collect::<Vec<_>>();
    let [line] = line[..] else {
        return Err(format!(
            "expected `module: ejabberd_service` once, found it {} times",
            line.len()
        ));
    };
    let indent = &line[..line.len() - line.trim_start().len()];
    Ok(snippet.replacen(
        line,
        &format!(
            "{line}\n{indent}tls: true\n{indent}certfile: {:?}",
            pem.display().to_string()
        ),
        1,
    ))
}

/// The `ERL_LIBS` that `ejabberdctl` sets (where Debian puts ejabberd's Erlang
/// applications), read from the installed script; else found by looking for
/// `*/ejabberd-*/ebin/ejabberd.app` under `/usr/lib`.
fn erl_libs() -> String {
    for script in ["/usr/sbin/ejabberdctl", "/usr/bin/ejabberdctl"] {
        if let Ok(text) = fs::read_to_string(script)
            && let Some(line) = text.lines().find(|l| l.starts_with("ERL_LIBS="))
        {
            return line["ERL_LIBS=".len()..]
                .trim_matches(['\'', '"'])
                .to_owned();
        }
    }
    if let Ok(arches) = fs::read_dir("/usr/lib") {
        for arch in arches.flatten() {
            if let Ok(apps) = fs::read_dir(arch.path()) {
                for app in apps.flatten() {
                    let name = app.file_name();
                    if name.to_string_lossy().starts_with("ejabberd-")
                        && app.path().join("ebin/ejabberd.app").exists()
                    {
                        return arch.path().display().to_string();
                    }
                }
            }
        }
    }
    panic!("ejabberd's Erlang applications not found (is the ejabberd package installed?)")
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_values_are_filled_and_comments_dropped() {
        let snippet = "# port: 5347 in a comment\nlisten:\n  -\n    port: 5347\n    hosts:\n      \"sip.example.net\":\n        password: \"change-me\"\n";
        let filled = fill_snippet(snippet, 40000, "sip.test", "pw").expect("fills");
        assert!(filled.contains("port: 40000"), "{filled}");
        assert!(filled.contains("\"sip.test\":"), "{filled}");
        assert!(filled.contains("password: \"pw\""), "{filled}");
        assert!(!filled.contains('#'), "{filled}");
    }

    #[test]
    fn component_tls_goes_into_the_service_listener() {
        let snippet = "listen:\n  -\n    port: 1\n    module: ejabberd_service\n    hosts: {}\n";
        let out = with_component_tls(snippet, Path::new("/tmp/c.pem")).expect("adds");
        assert!(
            out.contains(
                "    module: ejabberd_service\n    tls: true\n    certfile: \"/tmp/c.pem\"\n    hosts"
            ),
            "{out}"
        );
        assert!(with_component_tls("listen: []\n", Path::new("/x")).is_err());
    }

    #[test]
    fn snippet_without_an_example_value_is_refused() {
        assert!(fill_snippet("listen: []\n", 1, "a", "b").is_err());
    }

    #[test]
    fn the_deploy_snippet_has_every_example_value_once() {
        let snippet = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(SNIPPET))
            .expect("read the snippet");
        fill_snippet(&snippet, 1, "a", "b").expect("fillable");
    }
}
