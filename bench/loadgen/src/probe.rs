//! What Parley costs: CPU time and memory from `/proc/<pid>`, registry and
//! transaction gauges from its `/metrics` endpoint.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Linux reports `/proc/<pid>/stat` times in USER_HZ, 100 on every
/// architecture Linux supports today.
const USER_HZ: f64 = 100.0;

/// CPU seconds (user + system) the process has used.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`, which may contain spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); index 11 and 12 here.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// Datagrams the kernel dropped at the UDP sockets `pid` holds because
/// their receive buffer was full (the `drops` column of `/proc/net/udp` and
/// `/proc/net/udp6`, for the socket inodes in `/proc/<pid>/fd`): loss before
/// the process read them. Counted since each socket was opened.
pub(crate) fn udp_drops(pid: u32) -> Option<u64> {
    let mut inodes = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()? {
        let Ok(link) = std::fs::read_link(entry.ok()?.path()) else {
            continue;
        };
        if let Some(inode) = link
            .to_str()
            .and_then(|l| l.strip_prefix("socket:["))
            .and_then(|l| l.strip_suffix(']'))
        {
            inodes.push(inode.to_owned());
        }
    }
    let mut total = 0;
    for table in ["udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok()?;
        total += socket_drops(&text, &inodes)?;
    }
    Some(total)
}

/// The sum of the `drops` column over the rows of `inodes` in a
/// `/proc/net/udp` table (proc_net(5): `inode` is the 10th column, `drops`
/// the 13th).
fn socket_drops(table: &str, inodes: &[String]) -> Option<u64> {
    let mut total = 0;
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.get(9).is_some_and(|i| inodes.iter().any(|n| n == i)) {
            total += cols.get(12)?.parse::<u64>().ok()?;
        }
    }
    Some(total)
}

/// `(VmRSS, VmHWM)` in KiB.
pub(crate) fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The gauges a soak watches, from Prometheus text.
#[derive(Debug, Default, Clone)]
pub(crate) struct Gauges {
    pub(crate) pending_sip: f64,
    pub(crate) pending_xmpp: f64,
    pub(crate) subscriptions_out: f64,
    pub(crate) subscriptions_in: f64,
    pub(crate) sip_transactions: f64,
    pub(crate) xmpp_queue: f64,
}

/// Scrapes `/metrics` (plain HTTP/1.0 on loopback).
pub(crate) async fn gauges(metrics: SocketAddr) -> Option<Gauges> {
    let fetch = async {
        let mut s = TcpStream::connect(metrics).await.ok()?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: loadgen\r\n\r\n")
            .await
            .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).await.ok()?;
        Some(text)
    };
    let text = tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .ok()??;
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    Some(Gauges {
        pending_sip: value("parley_registry_entries{kind=\"pending_sip\"}"),
        pending_xmpp: value("parley_registry_entries{kind=\"pending_xmpp\"}"),
        subscriptions_out: value("parley_registry_entries{kind=\"sip_subscriptions_out\"}"),
        subscriptions_in: value("parley_registry_entries{kind=\"sip_subscriptions_in\"}"),
        sip_transactions: value("parley_sip_transactions "),
        xmpp_queue: value("parley_xmpp_queue_length "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_drops_are_summed_over_the_inodes_asked() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            \x20 10: 0100007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4711 2 0000000000000000 7\n\
            \x20 11: 0100007F:13C5 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4712 2 0000000000000000 5\n\
            \x20 12: 0100007F:13C6 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9999 2 0000000000000000 100\n";
        let inodes = ["4711".to_owned(), "4712".to_owned()];
        assert_eq!(socket_drops(table, &inodes), Some(12));
        assert_eq!(socket_drops(table, &[]), Some(0));
    }
}
