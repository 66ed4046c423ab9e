use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `parley` binary with its config in a temporary directory.
///
/// Its log (stderr) is collected for assertions and printed when a test fails;
/// the process is killed when this is dropped.
pub struct Parley {
    child: Child,
    /// The HTTP endpoint (`/metrics`, `/healthz`, `/readyz`).
    pub metrics: SocketAddr,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
    /// The config file it was started with.
    pub config_path: PathBuf,
}

impl Parley {
    /// Start `binary --config <config_toml>` and wait until `/healthz` answers.
    /// `metrics` must be the `[metrics] listen` address written in the config.
    pub fn start(binary: &Path, config_toml: &str, metrics: SocketAddr) -> Parley {
        let dir = tempfile::tempdir().expect("temp dir for parley");
        let config_path = dir.path().join("parley.toml");
        std::fs::write(&config_path, config_toml).expect("write parley config");
        let mut child = Command::new(binary)
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "debug")
            // The harness's own knob would read as an unknown config key.
            .env_remove("PARLEY_PROSODY_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start parley");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("parley stderr");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut parley = Parley {
            child,
            metrics,
            log,
            _dir: dir,
            config_path,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while parley.http_get("/healthz").map(|(s, _)| s) != Some(200) {
            if let Ok(Some(status)) = parley.child.try_wait() {
                panic!("parley exited with {status}:\n{}", parley.log());
            }
            assert!(
                Instant::now() < deadline,
                "parley did not come up:\n{}",
                parley.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        parley
    }

    /// Wait until `/readyz` answers 200 (component authenticated, SIP bound).
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.http_get("/readyz").map(|(s, _)| s) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "parley not ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A plain HTTP/1.0 GET on the metrics endpoint: (status, body).
    pub fn http_get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect_timeout(&self.metrics, Duration::from_secs(1)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let status = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
        Some((status, body))
    }

    /// The value of one sample line of `/metrics`, e.g.
    /// `parley_messages_total{direction="sip_to_xmpp",outcome="delivered"}`
    /// (labels in the order the exposition writes them: sorted by name).
    /// Panics when no such sample is exported, so that a renamed metric or a
    /// misspelt label fails the test instead of reading as 0.
    pub fn metric(&self, sample: &str) -> f64 {
        let (_, body) = self.http_get("/metrics").expect("GET /metrics");
        sample_value(&body, sample).unwrap_or_else(|| {
            let name = sample.split('{').next().unwrap_or(sample);
            let family: Vec<&str> = body
                .lines()
                .filter(|l| l.starts_with(name) && !l.starts_with('#'))
                .collect();
            panic!(
                "no sample {sample} in /metrics (renamed, misspelt, or a label \
                 set not exported yet?); samples of {name}: {family:#?}"
            )
        })
    }

    /// The value of one sample line of `/metrics`, `None` when it is not
    /// exported: for a caller that means "absent" (a label value that only
    /// appears once something happened).
    pub fn metric_opt(&self, sample: &str) -> Option<f64> {
        let (_, body) = self.http_get("/metrics").expect("GET /metrics");
        sample_value(&body, sample)
    }

    /// Everything parley logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Send SIGTERM and wait for the exit code (None if killed by a signal or still running after `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        self.signal_term();
        self.wait_exit(timeout)
    }

    /// SIGKILL, as a crash: no graceful stop, sockets closed by the kernel.
    /// Waits until the process is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send SIGTERM and return at once (see [`Parley::wait_exit`]).
    pub fn signal_term(&self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
    }

    /// Wait for the process to exit: its exit code, or None if killed by a
    /// signal or still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Parley {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- parley log ----\n{}", self.log());
        }
    }
}

/// The config of one of several instances for one component domain behind a
/// Kamailio dispatcher, on one XMPP server (`gateway/tests/several_instances*`).
pub struct InstanceConfig<'a> {
    /// `xmpp.component_domain`, also `sip.domain`.
    pub component: &'a str,
    /// The XMPP server's component address.
    pub xmpp_server: &'a str,
    /// The component secret.
    pub secret: &'a str,
    /// The UDP and TCP port the instance listens on (127.0.0.1).
    pub sip_port: u16,
    /// `sip.outbound_proxy` (the dispatcher's gateway socket).
    pub outbound_proxy: &'a str,
    /// `metrics.listen`.
    pub metrics: SocketAddr,
    /// The body of the `[store]` table (`path = …`, or `url`/`instance`/`lease_ms`).
    pub store: &'a str,
    /// `messages.delivery_window_ms`.
    pub delivery_window_ms: u64,
    /// `xmpp.keepalive_secs`, if not the default.
    pub keepalive_secs: Option<u64>,
}

impl InstanceConfig<'_> {
    /// The TOML: quick component reconnects, SIP T1 100 ms (loopback).
    pub fn to_toml(&self) -> String {
        format!(
            r#"
[xmpp]
component_domain = "{component}"
server = "{server}"
secret = "{secret}"
reconnect_min_ms = 100
reconnect_max_ms = 1000
{keepalive}
[sip]
domain = "{component}"
listen = ["udp:127.0.0.1:{port}", "tcp:127.0.0.1:{port}"]
outbound_proxy = "{proxy}"
t1_ms = 100

[metrics]
listen = "{metrics}"

[store]
{store}

[messages]
delivery_window_ms = {window}
"#,
            component = self.component,
            server = self.xmpp_server,
            secret = self.secret,
            port = self.sip_port,
            proxy = self.outbound_proxy,
            metrics = self.metrics,
            store = self.store,
            window = self.delivery_window_ms,
            keepalive = self
                .keepalive_secs
                .map(|k| format!("keepalive_secs = {k}\n"))
                .unwrap_or_default(),
        )
    }
}

/// The value of the line `<sample> <value>` in a text exposition.
fn sample_value(body: &str, sample: &str) -> Option<f64> {
    body.lines().find_map(|l| {
        l.strip_prefix(sample)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::sample_value;

    const EXPOSITION: &str = "# TYPE parley_x_total counter\n\
        parley_x_total{kind=\"a\"} 3\n\
        parley_x_total_more 9\n\
        parley_y 1\n";

    #[test]
    fn a_sample_is_read_by_its_exact_name_and_labels() {
        assert_eq!(
            sample_value(EXPOSITION, r#"parley_x_total{kind="a"}"#),
            Some(3.0)
        );
        assert_eq!(sample_value(EXPOSITION, "parley_y"), Some(1.0));
        assert_eq!(
            sample_value(EXPOSITION, r#"parley_x_total{kind="b"}"#),
            None
        );
        assert_eq!(sample_value(EXPOSITION, "parley_x"), None);
        assert_eq!(sample_value(EXPOSITION, "parley_x_total"), None);
    }
}
