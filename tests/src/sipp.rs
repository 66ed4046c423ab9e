//! sipp (Debian package `sip-tester`) on loopback, for SIP tests.
//!
//! A scenario runs either as a UAC against a target (blocking, bounded in
//! time) or as a UAS in the background on a free loopback port, killed when
//! dropped. Each run gets a temporary directory for sipp's logs
//! (`-trace_err`, `-trace_msg`); [`SippOutcome::report`](crate::sipp::SippOutcome::report) puts them in a
//! failing test's message. A UAS is "ready" once its port shows up in
//! `/proc/net/{udp,tcp}` as bound (listening, for TCP) — no probe packet, no race.

use std::fmt;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::port::free_udp_tcp_port;

/// The transport sipp uses (`-t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SippTransport {
    /// UDP, one socket (`-t u1`).
    Udp,
    /// TCP, one connection (`-t t1`).
    Tcp,
}

impl SippTransport {
    fn flag(self) -> &'static str {
        match self {
            SippTransport::Udp => "u1",
            SippTransport::Tcp => "t1",
        }
    }
}

/// How a sipp run ended, with everything it logged.
#[derive(Debug, Clone)]
pub struct SippOutcome {
    /// Exit code 0: every call succeeded.
    pub success: bool,
    /// The exit code (`None`: killed, e.g. on timeout).
    pub exit_code: Option<i32>,
    /// Whether the harness killed it for overrunning its time.
    pub timed_out: bool,
    /// sipp's stdout (screens).
    pub stdout: String,
    /// sipp's stderr.
    pub stderr: String,
    /// `*_errors.log` (`-trace_err`): unexpected messages.
    pub errors_log: String,
    /// `*_messages.log` (`-trace_msg`): every message sent and received.
    pub messages_log: String,
}

impl SippOutcome {
    /// A text for assertion messages: exit, stderr, the error log and the message log.
    pub fn report(&self) -> String {
        format!(
            "sipp exit={:?} timed_out={}\n--- stderr ---\n{}\n--- errors.log ---\n{}\n--- messages.log ---\n{}",
            self.exit_code, self.timed_out, self.stderr, self.errors_log, self.messages_log
        )
    }

    /// How many messages sipp logged as received whose first line starts with `start`
    /// (e.g. `"MESSAGE "` or `"SIP/2.0 200"`).
    pub fn received(&self, start: &str) -> usize {
        self.logged("received", start)
    }

    /// How many messages sipp logged as sent whose first line starts with `start`.
    pub fn sent(&self, start: &str) -> usize {
        self.logged("sent", start)
    }

    fn logged(&self, direction: &str, start: &str) -> usize {
        // messages.log blocks read "----- … UDP message received [N] bytes :\n\n<first line>".
        let mut count = 0;
        let mut lines = self.messages_log.lines();
        while let Some(line) = lines.next() {
            if line.contains(&format!("message {direction}")) {
                let first = lines.by_ref().find(|l| !l.trim().is_empty());
                if first.is_some_and(|l| l.starts_with(start)) {
                    count += 1;
                }
            }
        }
        count
    }
}

impl fmt::Display for SippOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.report())
    }
}

/// A sipp invocation: scenario file and options.
#[derive(Debug, Clone)]
pub struct Sipp {
    scenario: PathBuf,
    transport: SippTransport,
    calls: u32,
    rate: Option<u32>,
    timeout: Duration,
    vars: Vec<(String, String)>,
    args: Vec<String>,
    local_port: Option<u16>,
}

/// The scenarios shipped in `sip/tests/sipp/`.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sip/tests/sipp")
        .join(name)
}

impl Sipp {
    /// A run of `scenario` (an XML file path), one call over UDP, 20 s at most.
    pub fn new(scenario: impl AsRef<Path>) -> Sipp {
        Sipp {
            scenario: scenario.as_ref().to_path_buf(),
            transport: SippTransport::Udp,
            calls: 1,
            rate: None,
            timeout: Duration::from_secs(20),
            vars: Vec::new(),
            args: Vec::new(),
            local_port: None,
        }
    }

    /// Sets the transport.
    pub fn transport(mut self, transport: SippTransport) -> Sipp {
        self.transport = transport;
        self
    }

    /// Stops after this many calls (`-m`).
    pub fn calls(mut self, calls: u32) -> Sipp {
        self.calls = calls;
        self
    }

    /// Calls per second (`-r`).
    pub fn rate(mut self, rate: u32) -> Sipp {
        self.rate = Some(rate);
        self
    }

    /// Wall-clock bound; the process is killed past it.
    pub fn timeout(mut self, timeout: Duration) -> Sipp {
        self.timeout = timeout;
        self
    }

    /// Sets a scenario variable (`-set name value`), read as `[$name]`.
    pub fn set(mut self, name: &str, value: &str) -> Sipp {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Listens on this loopback port instead of a free one picked at start
    /// (a UAS that must take over a predecessor's address).
    pub fn local_port(mut self, port: u16) -> Sipp {
        self.local_port = Some(port);
        self
    }

    /// Adds a raw command-line argument.
    pub fn arg(mut self, arg: &str) -> Sipp {
        self.args.push(arg.to_owned());
        self
    }

    fn command(&self, dir: &Path, local_port: u16, target: Option<SocketAddr>) -> Command {
        let mut cmd = Command::new("sipp");
        if let Some(target) = target {
            cmd.arg(target.to_string());
        }
        // The scenario is read from a copy in `dir`, which lives as long as
        // the run: callers may delete theirs as soon as this returns, and
        // sipp reads its file only after it has been started.
        let scenario = dir.join("scenario.xml");
        let scenario = match std::fs::copy(&self.scenario, &scenario) {
            Ok(_) => scenario,
            Err(_) => self.scenario.clone(),
        };
        cmd.arg("-sf")
            .arg(&scenario)
            .args(["-i", "127.0.0.1", "-p", &local_port.to_string()])
            .args(["-t", self.transport.flag()])
            .args(["-m", &self.calls.to_string()])
            .args(["-timeout", &format!("{}s", self.timeout.as_secs().max(1))])
            .args(["-timeout_error", "-nostdin", "-trace_err", "-trace_msg"])
            .arg("-error_file")
            .arg(dir.join("errors.log"))
            .arg("-message_file")
            .arg(dir.join("messages.log"));
        if let Some(rate) = self.rate {
            cmd.args(["-r", &rate.to_string()]);
        }
        for (name, value) in &self.vars {
            cmd.args(["-set", name, value]);
        }
        cmd.args(&self.args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(file(dir, "stdout.log"))
            .stderr(file(dir, "stderr.log"));
        cmd
    }

    /// Runs the scenario as a UAC against `target` and waits for it (bounded).
    pub fn run_uac(&self, target: SocketAddr) -> SippOutcome {
        let dir = temp_dir();
        let port = free_udp_tcp_port();
        let child = self
            .command(dir.path(), port, Some(target))
            .spawn()
            .expect("spawn sipp (is sip-tester installed?)");
        let mut run = Running { child: Some(child) };
        let status = run.wait(self.timeout + Duration::from_secs(5));
        outcome(dir.path(), status)
    }

    /// Starts the scenario as a UAS on a free loopback port and returns once it listens.
    ///
    /// A port picked free can be taken before sipp binds it (an outgoing
    /// connection's ephemeral port, another test): the port then reads as
    /// bound although sipp failed to bind it and exits. Such a run is
    /// retried on another port (three attempts) unless the port was fixed.
    pub fn spawn_uas(&self) -> SippUas {
        let attempts = if self.local_port.is_some() { 1 } else { 3 };
        for attempt in 1..=attempts {
            let dir = temp_dir();
            let port = self.local_port.unwrap_or_else(free_udp_tcp_port);
            let child = self
                .command(dir.path(), port, None)
                .spawn()
                .expect("spawn sipp (is sip-tester installed?)");
            let mut uas = SippUas {
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                transport: self.transport,
                run: Running { child: Some(child) },
                timeout: self.timeout + Duration::from_secs(5),
                dir,
            };
            match uas.wait_listening(attempt == attempts) {
                Ok(()) => return uas,
                Err(report) => {
                    eprintln!("sipp UAS on {port} did not start, trying another port:\n{report}")
                }
            }
        }
        unreachable!("the last attempt panics instead of returning Err")
    }
}

/// A sipp UAS running in the background; killed when dropped.
#[derive(Debug)]
pub struct SippUas {
    addr: SocketAddr,
    transport: SippTransport,
    run: Running,
    timeout: Duration,
    dir: TempDir,
}

impl SippUas {
    /// Where it listens (127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A SIP URI for it, with `;transport=tcp` when it runs over TCP.
    pub fn uri(&self, user: &str) -> String {
        match self.transport {
            SippTransport::Udp => format!("sip:{user}@{}", self.addr),
            SippTransport::Tcp => format!("sip:{user}@{};transport=tcp", self.addr),
        }
    }

    /// A SIP URI for it as an outbound proxy (no user part), with
    /// `;transport=tcp` when it runs over TCP.
    pub fn proxy_uri(&self) -> String {
        match self.transport {
            SippTransport::Udp => format!("sip:{}", self.addr),
            SippTransport::Tcp => format!("sip:{};transport=tcp", self.addr),
        }
    }

    /// Waits for sipp to finish its calls (bounded by its timeout).
    pub fn wait(mut self) -> SippOutcome {
        let status = self.run.wait(self.timeout);
        outcome(self.dir.path(), status)
    }

    /// Kills it now and returns what it logged.
    pub fn stop(mut self) -> SippOutcome {
        self.run.kill();
        outcome(self.dir.path(), None)
    }

    /// Waits until the port is bound and sipp is still running a moment
    /// later (a sipp that could not bind exits at once). `Err` with sipp's
    /// report when it exited; on the `last` attempt that panics instead.
    fn wait_listening(&mut self, last: bool) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut bound_since: Option<Instant> = None;
        while Instant::now() < deadline {
            if let Some(child) = self.run.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let report = outcome(self.dir.path(), Some(status)).report();
                if last {
                    panic!("sipp UAS exited before listening:\n{report}");
                }
                return Err(report);
            }
            match bound_since {
                Some(t) if t.elapsed() >= Duration::from_millis(200) => return Ok(()),
                Some(_) => {}
                None if port_bound(self.addr.port(), self.transport) => {
                    bound_since = Some(Instant::now());
                }
                None => {}
            }
            sleep(Duration::from_millis(10));
        }
        panic!("sipp UAS did not bind {} within 10 s", self.addr);
    }
}

#[derive(Debug)]
struct Running {
    child: Option<Child>,
}

impl Running {
    /// Waits up to `timeout`; kills on overrun (status `None`).
    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Some(status);
                }
                Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(10)),
                _ => {
                    self.kill();
                    return None;
                }
            }
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("parley-sipp-")
        .tempdir()
        .expect("temp dir for sipp")
}

fn file(dir: &Path, name: &str) -> Stdio {
    fs::File::create(dir.join(name))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

fn outcome(dir: &Path, status: Option<ExitStatus>) -> SippOutcome {
    let read = |name: &str| fs::read_to_string(dir.join(name)).unwrap_or_default();
    SippOutcome {
        success: status.is_some_and(|s| s.success()),
        exit_code: status.and_then(|s| s.code()),
        timed_out: status.is_none(),
        stdout: read("stdout.log"),
        stderr: read("stderr.log"),
        errors_log: read("errors.log"),
        messages_log: read("messages.log"),
    }
}

/// Whether `port` on 127.0.0.1 is bound (UDP) or listening (TCP), per /proc/net.
fn port_bound(port: u16, transport: SippTransport) -> bool {
    let (file, listen_state) = match transport {
        SippTransport::Udp => ("/proc/net/udp", None),
        SippTransport::Tcp => ("/proc/net/tcp", Some("0A")),
    };
    let Ok(table) = fs::read_to_string(file) else {
        return false;
    };
    let wanted = format!(":{port:04X}");
    table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1).unwrap_or_default();
        let state = fields.nth(1).unwrap_or_default();
        local.ends_with(&wanted) && listen_state.is_none_or(|s| s == state)
    })
}
