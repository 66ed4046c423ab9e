//! What a phase cost and what became of it, in the two forms the load tool
//! writes: a sentence on stderr and a `key=value` line for scripts
//! (`--report`). A figure that could not be read is written `na`, never 0.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::Path;
use std::time::Instant;

use crate::phase::PhaseSpec;
use crate::probe;
use crate::tracker::Outcomes;

/// CPU seconds (user + system) of the processes a phase is about, the wall
/// time they were measured over, and the datagrams the kernel dropped at
/// Parley's and the load tool's UDP sockets (receive buffer full).
/// Taken at the start and end of a phase; `since` gives the difference.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Costs {
    pub(crate) parley_cpu: f64,
    /// The XMPP server's, if its pid was given.
    pub(crate) server_cpu: Option<f64>,
    /// The load tool's own (it runs on one thread: near 1.0 per wall second,
    /// it is the bottleneck).
    pub(crate) own_cpu: f64,
    pub(crate) wall: f64,
    pub(crate) parley_udp_drops: Option<u64>,
    pub(crate) own_udp_drops: Option<u64>,
    at: Instant,
}

impl Costs {
    pub(crate) fn now(parley_pid: u32, server_pid: Option<u32>) -> Costs {
        Costs {
            parley_cpu: probe::cpu_seconds(parley_pid).unwrap_or(f64::NAN),
            server_cpu: server_pid.and_then(probe::cpu_seconds),
            own_cpu: probe::cpu_seconds(std::process::id()).unwrap_or(f64::NAN),
            wall: 0.0,
            parley_udp_drops: probe::udp_drops(parley_pid),
            own_udp_drops: probe::udp_drops(std::process::id()),
            at: Instant::now(),
        }
    }

    /// What was spent between `before` and `self`.
    pub(crate) fn since(&self, before: &Costs) -> Costs {
        Costs {
            parley_cpu: self.parley_cpu - before.parley_cpu,
            server_cpu: self.server_cpu.zip(before.server_cpu).map(|(a, b)| a - b),
            own_cpu: self.own_cpu - before.own_cpu,
            wall: self.at.duration_since(before.at).as_secs_f64(),
            parley_udp_drops: delta(self.parley_udp_drops, before.parley_udp_drops),
            own_udp_drops: delta(self.own_udp_drops, before.own_udp_drops),
            at: self.at,
        }
    }

    /// "parley 1.20 s CPU (60 % of one core), …" over the phase.
    pub(crate) fn describe(&self) -> String {
        let share = |cpu: f64| 100.0 * cpu / self.wall.max(1e-9);
        let mut out = format!(
            "over {:.2} s: parley CPU {:.2} s ({:.0} % of one core)",
            self.wall,
            self.parley_cpu,
            share(self.parley_cpu)
        );
        if let Some(cpu) = self.server_cpu {
            let _ = write!(out, ", XMPP server {cpu:.2} s ({:.0} %)", share(cpu));
        }
        let _ = write!(
            out,
            ", loadgen {:.2} s ({:.0} %)",
            self.own_cpu,
            share(self.own_cpu)
        );
        let count = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
        let _ = write!(
            out,
            "; datagrams dropped by the kernel (receive buffer full): {} at parley's UDP sockets, {} at loadgen's",
            count(self.parley_udp_drops),
            count(self.own_udp_drops),
        );
        out
    }
}

/// `after - before` of a counter that only grows (a socket opened in between
/// restarts it: counted from 0 then).
fn delta(after: Option<u64>, before: Option<u64>) -> Option<u64> {
    let (a, b) = (after?, before?);
    Some(if a >= b { a - b } else { a })
}

/// One phase's line for `--report`.
#[derive(Debug)]
pub(crate) struct PhaseReport<'a> {
    pub(crate) spec: &'a PhaseSpec,
    pub(crate) sent: usize,
    pub(crate) outcomes: Outcomes,
    pub(crate) duplicates: usize,
    /// SIP retransmissions of delivered messages (not duplicates).
    pub(crate) retransmissions: usize,
    /// First send to last delivery.
    pub(crate) span_secs: f64,
    pub(crate) costs: Costs,
    /// After the phase, until Parley held no SIP transactions (`--settle-secs`).
    pub(crate) expiry: Option<Costs>,
}

impl PhaseReport<'_> {
    /// `phase=… dir=… offered=… sent=… delivered=… …`, one line, no spaces
    /// in values.
    pub(crate) fn line(&self) -> String {
        let o = &self.outcomes;
        let c = &self.costs;
        let dir = self.spec.text.split(':').next().unwrap_or_default();
        let offered = self
            .spec
            .rate
            .map_or_else(|| "max".to_owned(), |r| r.to_string());
        format!(
            "phase={} dir={dir} offered={offered} count={} sent={} delivered={} refused={} \
             refused_delivered={} failed={} lost={} lost_after_2xx={} duplicates={} retransmissions={} \
             span_s={:.4} rate={:.1} parley_cpu_s={} server_cpu_s={} own_cpu_s={} wall_s={:.4} \
             parley_udp_drops={} own_udp_drops={} expiry_parley_cpu_s={} expiry_wall_s={}",
            self.spec.text,
            self.spec.count,
            self.sent,
            o.delivered,
            o.refused,
            o.refused_but_delivered,
            o.failed,
            o.lost,
            o.lost_after_2xx,
            self.duplicates,
            self.retransmissions,
            self.span_secs,
            o.delivered as f64 / self.span_secs.max(1e-9),
            figure(Some(c.parley_cpu)),
            figure(c.server_cpu),
            figure(Some(c.own_cpu)),
            c.wall,
            count(c.parley_udp_drops),
            count(c.own_udp_drops),
            figure(self.expiry.map(|e| e.parley_cpu)),
            figure(self.expiry.map(|e| e.wall)),
        )
    }
}

/// A count, or `na` for one that could not be read.
fn count(v: Option<u64>) -> String {
    v.map_or_else(|| "na".to_owned(), |n| n.to_string())
}

/// Seconds with 4 decimals, or `na` for a figure that could not be read.
fn figure(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => "na".to_owned(),
    }
}

/// Appends `line` and a newline to `path`.
pub(crate) fn append(path: &Path, line: &str) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{line}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::parse_phase;

    #[test]
    fn an_unreadable_figure_is_na_not_zero() {
        let spec = parse_phase("s2x:2000:10").expect("phase");
        let report = PhaseReport {
            spec: &spec,
            sent: 10,
            outcomes: Outcomes {
                delivered: 8,
                refused: 1,
                lost: 1,
                ..Outcomes::default()
            },
            duplicates: 0,
            retransmissions: 0,
            span_secs: 2.0,
            expiry: None,
            costs: Costs {
                parley_cpu: 0.5,
                server_cpu: None,
                own_cpu: f64::NAN,
                wall: 2.5,
                parley_udp_drops: Some(3),
                own_udp_drops: None,
                at: Instant::now(),
            },
        };
        let line = report.line();
        assert!(
            line.starts_with(
                "phase=s2x:2000:10 dir=s2x offered=2000 count=10 sent=10 delivered=8 refused=1 "
            ),
            "{line}"
        );
        assert!(
            line.contains(" rate=4.0 parley_cpu_s=0.5000 server_cpu_s=na own_cpu_s=na "),
            "{line}"
        );
        assert!(
            line.ends_with(
                " parley_udp_drops=3 own_udp_drops=na expiry_parley_cpu_s=na expiry_wall_s=na"
            ),
            "{line}"
        );
    }
}
