//! A real Kamailio (Debian package `kamailio`) on loopback, for end-to-end tests.
//!
//! Runs `deploy/kamailio/kamailio.cfg` itself, unedited: its `#!ifndef`
//! defaults are overridden with `-A NAME=value` (the listen sockets, the SIP and
//! XMPP domains, Parley's address), so the tests exercise the file that admins
//! are told to use. Started in the foreground (`-DD`, logging to stderr with
//! `-E`, which the harness collects), with its runtime directory (`-Y`) in a
//! temporary directory and small memory pools; SIGTERM to the main process
//! stops its worker processes too. The public (phones) and gateway (Parley)
//! sockets get free UDP+TCP ports on 127.0.0.1.
//!
//! [`Kamailio::start_dispatching`](crate::kamailio::Kamailio::start_dispatching) runs the same file with `WITH_DISPATCHER`
//! defined, in front of several Parley instances: their addresses go into a
//! dispatcher list written in the format of `deploy/kamailio/dispatcher.list`.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::port::free_udp_tcp_port;

/// The deployment config under test, relative to this crate.
const CONFIG: &str = "../deploy/kamailio/kamailio.cfg";

/// What the Kamailio under test routes.
#[derive(Debug, Clone)]
pub struct KamailioConfig {
    /// The SIP domain Kamailio is registrar for (Parley's `sip.domain`).
    pub sip_domain: String,
    /// The XMPP domains whose users are reached through Parley.
    pub xmpp_domains: Vec<String>,
    /// Parley's SIP URI, e.g. `sip:127.0.0.1:5080`.
    pub parley_uri: String,
}

/// The dispatcher in front of several Parley instances (`WITH_DISPATCHER`).
#[derive(Debug, Clone)]
pub struct Dispatcher {
    /// Each instance's SIP URI, e.g. `sip:127.0.0.1:5080`, in list order.
    pub instances: Vec<String>,
    /// Seconds between OPTIONS probes (`DS_PING_INTERVAL`).
    pub ping_interval_s: u32,
    /// How long Kamailio waits for an instance's final answer, ms (`FR_TIMER`).
    pub fr_timer_ms: u32,
}

/// Kamailio's memory pools, MB (`-m` shared, `-M` private per process).
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Shared memory (transactions, dispatcher state).
    pub shared_mb: u32,
    /// Private memory of each process.
    pub private_mb: u32,
}

/// What the tests need: small pools.
const TEST_MEMORY: Memory = Memory {
    shared_mb: 16,
    private_mb: 4,
};

/// A running Kamailio child process.
#[derive(Debug)]
pub struct Kamailio {
    /// The public (phones') port, UDP and TCP, on 127.0.0.1.
    pub public_port: u16,
    /// The gateway (Parley's) port, UDP and TCP, on 127.0.0.1.
    pub gateway_port: u16,
    dir: TempDir,
    child: Option<Child>,
    dispatcher: Option<Dispatcher>,
}

/// How long Kamailio gets to open its ports.
const START_TIMEOUT: Duration = Duration::from_secs(20);

impl Kamailio {
    /// Start Kamailio with `deploy/kamailio/kamailio.cfg` and wait until both
    /// its TCP sockets accept (the UDP ones are bound before them).
    pub fn start(cfg: KamailioConfig) -> Kamailio {
        Kamailio::start_with(cfg, None, TEST_MEMORY)
    }

    /// Start Kamailio with `WITH_DISPATCHER` in front of `dispatcher`'s
    /// instances (`cfg.parley_uri` is then unused).
    pub fn start_dispatching(cfg: KamailioConfig, dispatcher: Dispatcher) -> Kamailio {
        Kamailio::start_with(cfg, Some(dispatcher), TEST_MEMORY)
    }

    /// [`Kamailio::start_dispatching`] with larger memory pools: under load
    /// (benchmarks) the tests' 16 MB of shared memory run out.
    pub fn start_dispatching_sized(
        cfg: KamailioConfig,
        dispatcher: Dispatcher,
        memory: Memory,
    ) -> Kamailio {
        Kamailio::start_with(cfg, Some(dispatcher), memory)
    }

    /// The main process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn start_with(cfg: KamailioConfig, dispatcher: Option<Dispatcher>, memory: Memory) -> Kamailio {
        let dir = tempfile::Builder::new()
            .prefix("parley-kamailio-")
            .tempdir()
            .expect("create a temp dir for Kamailio");
        let public_port = free_udp_tcp_port();
        let mut gateway_port = free_udp_tcp_port();
        while gateway_port == public_port {
            gateway_port = free_udp_tcp_port();
        }
        let mut kamailio = Kamailio {
            public_port,
            gateway_port,
            dir,
            child: None,
            dispatcher: None,
        };
        kamailio.spawn(&cfg, dispatcher.as_ref(), memory);
        kamailio.dispatcher = dispatcher;
        kamailio
    }

    /// With the dispatcher: wait until Kamailio takes every instance as up.
    /// It probes from its start, so a probe sent before an instance listened
    /// fails up to `FR_TIMER` later and marks that instance down until the
    /// next probe: wait until every such probe has ended, then until each
    /// instance marked down is up again (its log says `Parley instance <uri>
    /// up` after the last `down`). An error naming the instance after
    /// `timeout`.
    pub fn wait_instances_up(&self, timeout: Duration) -> Result<(), String> {
        let Some(dispatcher) = &self.dispatcher else {
            return Ok(());
        };
        std::thread::sleep(Duration::from_millis(
            u64::from(dispatcher.fr_timer_ms) + 200,
        ));
        let deadline = Instant::now() + timeout;
        for uri in &dispatcher.instances {
            loop {
                let log = self.log();
                let down = log.rfind(&format!("Parley instance {uri} down"));
                let up = log.rfind(&format!("Parley instance {uri} up"));
                if down.is_none() || up > down {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(format!("{uri} stays down"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// Wait until Kamailio's log past its first `since` bytes (an earlier
    /// `log().len()`) contains `needle`; the time it took, or `None` after
    /// `timeout`.
    pub fn wait_log_since(
        &self,
        since: usize,
        needle: &str,
        timeout: Duration,
    ) -> Option<Duration> {
        let start = Instant::now();
        loop {
            if self.log().get(since..).is_some_and(|l| l.contains(needle)) {
                return Some(start.elapsed());
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The public socket (UDP), where phones send.
    pub fn public_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.public_port))
    }

    /// The gateway socket (UDP), where Parley sends.
    pub fn gateway_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.gateway_port))
    }

    /// Parley's `sip.outbound_proxy` value: the gateway socket, loose-routing.
    pub fn outbound_proxy(&self) -> String {
        format!("sip:127.0.0.1:{};lr", self.gateway_port)
    }

    /// Kamailio's log so far (for assertions and failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Stop Kamailio (SIGTERM to the main process, which stops its workers;
    /// SIGKILL after 5 s). Idempotent.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            crate::process::terminate(child, Duration::from_secs(5));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("kamailio.log")
    }

    fn spawn(&mut self, cfg: &KamailioConfig, dispatcher: Option<&Dispatcher>, memory: Memory) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open Kamailio log");
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join(CONFIG);
        let (public, gateway) = (self.public_port, self.gateway_port);
        let mut defines = vec![
            format!("PUBLIC_LISTEN=udp:127.0.0.1:{public}"),
            format!("PUBLIC_LISTEN_TCP=tcp:127.0.0.1:{public}"),
            format!("GATEWAY_LISTEN=udp:127.0.0.1:{gateway}"),
            format!("GATEWAY_LISTEN_TCP=tcp:127.0.0.1:{gateway}"),
            format!("SIP_DOMAIN={:?}", cfg.sip_domain),
            format!("XMPP_DOMAINS={:?}", domains_regex(&cfg.xmpp_domains)),
            format!("PARLEY_URI={:?}", cfg.parley_uri),
        ];
        if let Some(d) = dispatcher {
            let list = self.dir.path().join("dispatcher.list");
            fs::write(&list, dispatcher_list(&d.instances)).expect("write dispatcher.list");
            defines.extend([
                "WITH_DISPATCHER".to_owned(),
                format!("DISPATCHER_LIST={:?}", list.display().to_string()),
                format!("DS_PING_INTERVAL={}", d.ping_interval_s),
                format!("FR_TIMER={}", d.fr_timer_ms),
            ]);
        }
        let mut command = Command::new("kamailio");
        command
            .args(["-DD", "-E", "-m"])
            .arg(memory.shared_mb.to_string())
            .arg("-M")
            .arg(memory.private_mb.to_string())
            .arg("-f")
            .arg(&config)
            .arg("-Y")
            .arg(self.dir.path());
        for define in &defines {
            command.arg("-A").arg(define);
        }
        let child = command
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("start kamailio (is the kamailio package installed?)");
        let mut child = child;
        crate::process::wait_listening(
            "kamailio",
            &mut child,
            &[self.public_port, self.gateway_port],
            START_TIMEOUT,
            || self.log(),
        );
        self.child = Some(child);
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An instance's SIP URI as the dispatcher list names it.
pub fn instance_uri(port: u16) -> String {
    format!("sip:127.0.0.1:{port}")
}

/// A dispatcher list (set 1, flags 0, priority 0 per instance), the format
/// of `deploy/kamailio/dispatcher.list`.
fn dispatcher_list(instances: &[String]) -> String {
    instances
        .iter()
        .map(|uri| format!("1 {uri} 0 0\n"))
        .collect()
}

/// `^(a\.example|b\.example)$` for the given domains.
fn domains_regex(domains: &[String]) -> String {
    let alternatives: Vec<String> = domains.iter().map(|d| d.replace('.', "\\.")).collect();
    format!("^({})$", alternatives.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list the harness writes has the shape of the shipped example:
    /// the same fields per line, the same set id (the cfg's DS_SET default).
    #[test]
    fn dispatcher_list_has_the_shape_of_the_deployed_example() {
        let example = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kamailio/dispatcher.list"),
        )
        .expect("read deploy/kamailio/dispatcher.list");
        let shape = |line: &str| -> Vec<String> {
            line.split_whitespace()
                .enumerate()
                .map(|(i, f)| {
                    if i == 1 {
                        "uri".to_owned()
                    } else {
                        f.to_owned()
                    }
                })
                .collect()
        };
        let entries: Vec<Vec<String>> = example
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .map(shape)
            .collect();
        assert!(!entries.is_empty(), "no entries in the example");
        let written = dispatcher_list(&["sip:127.0.0.1:5080".into()]);
        for line in written.lines() {
            assert_eq!(shape(line), entries[0], "{written}");
        }
    }

    #[test]
    fn domains_become_an_anchored_alternation_with_literal_dots() {
        assert_eq!(
            domains_regex(&["xmpp.example".into(), "a.b".into()]),
            "^(xmpp\\.example|a\\.b)$"
        );
    }
}
