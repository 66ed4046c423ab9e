//! Free loopback ports for the servers a test starts.
//!
//! A port is picked, checked free by binding it, released, and handed to a
//! server that binds it a moment later. Between the two, nothing else may
//! take it. The kernel's own choice (`bind` to port 0) is drawn from the
//! ephemeral range (`net.ipv4.ip_local_port_range`), the same range every
//! outgoing connection on the machine takes its local port from: a peer
//! starting beside the test (ejabberd's Erlang node connecting to epmd, a
//! client connecting) took such a port in that moment, and Parley could
//! not bind its MSRP listener (CI, `conference_ejabberd`). So ports are
//! picked below the ephemeral range, where only an explicit `bind` lands;
//! each process walks that range from a random start, so one process never
//! hands out a port twice and two test processes seldom meet.

use std::net::{TcpListener, UdpSocket};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The lowest port picked: above the registered services a machine
/// commonly runs (PostgreSQL 5432, XMPP 5222/5269, SIP 5060/5061, ...).
const LOWEST: u16 = 10_000;

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    pick(|port| TcpListener::bind(("127.0.0.1", port)).is_ok())
}

/// A port on 127.0.0.1 that was free for both UDP and TCP a moment ago.
pub fn free_udp_tcp_port() -> u16 {
    pick(|port| {
        // Both held at once, so the answer is about the same moment.
        let udp = UdpSocket::bind(("127.0.0.1", port));
        let tcp = TcpListener::bind(("127.0.0.1", port));
        udp.is_ok() && tcp.is_ok()
    })
}

/// `n` distinct ports on 127.0.0.1, each free for both UDP and TCP a moment
/// ago (several instances of one service, each on its own port).
pub fn free_udp_tcp_ports(n: usize) -> Vec<u16> {
    // `pick` never hands out one port twice in a process.
    (0..n).map(|_| free_udp_tcp_port()).collect()
}

/// The next port below the ephemeral range for which `free` says yes; the
/// kernel's choice if there is no such range to pick from.
fn pick(free: impl Fn(u16) -> bool) -> u16 {
    let Some((low, span)) = below_ephemeral() else {
        return kernel_choice();
    };
    for _ in 0..span {
        let offset = next_offset() % span;
        let port = low + u16::try_from(offset).unwrap_or(0);
        if free(port) {
            return port;
        }
    }
    panic!("no free loopback port in {low}..{}", u32::from(low) + span)
}

/// Where to pick from: `LOWEST` up to the ephemeral range's first port, if
/// that leaves at least a thousand ports.
fn below_ephemeral() -> Option<(u16, u32)> {
    static RANGE: OnceLock<Option<(u16, u32)>> = OnceLock::new();
    *RANGE.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
        let first: u16 = text.split_whitespace().next()?.parse().ok()?;
        let span = u32::from(first.checked_sub(LOWEST)?);
        (span >= 1_000).then_some((LOWEST, span))
    })
}

/// A counter that starts at a place of this process's own and steps by one.
fn next_offset() -> u32 {
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    NEXT.get_or_init(|| {
        use std::hash::{BuildHasher, RandomState};
        // RandomState is seeded per process: a random start, no crate needed.
        let start = RandomState::new().hash_one(std::process::id());
        AtomicU32::new((start % u64::from(u32::MAX)) as u32)
    })
    .fetch_add(1, Ordering::Relaxed)
}

/// The kernel's choice (`bind` to port 0), for machines without the proc file.
fn kernel_choice() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral TCP port");
    listener.local_addr().expect("local addr").port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_handed_out_are_distinct_and_below_the_ephemeral_range() {
        let ports = free_udp_tcp_ports(200);
        let mut seen = std::collections::HashSet::new();
        for p in &ports {
            assert!(seen.insert(*p), "port {p} handed out twice");
        }
        if let Some((low, span)) = below_ephemeral() {
            for p in ports {
                assert!(
                    u32::from(p) >= u32::from(low) && u32::from(p) < u32::from(low) + span,
                    "port {p} outside {low}..+{span}"
                );
            }
        }
    }

    #[test]
    fn a_port_taken_is_not_handed_out() {
        // Another process on the machine may take a port between the check
        // and this bind (the race the module narrows, not closes): hold the
        // first one that is still free when bound here.
        let (port, _held) = (0..100)
            .find_map(|_| {
                let port = free_tcp_port();
                TcpListener::bind(("127.0.0.1", port))
                    .ok()
                    .map(|l| (port, l))
            })
            .expect("one of 100 ports picked was still free when bound");
        for _ in 0..500 {
            assert_ne!(free_tcp_port(), port);
        }
    }
}
