use std::net::{TcpListener, UdpSocket};

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral TCP port");
    listener.local_addr().expect("local addr").port()
}

/// A port on 127.0.0.1 that was free for both UDP and TCP a moment ago.
pub fn free_udp_tcp_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral UDP port");
        let port = udp.local_addr().expect("local addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// `n` distinct ports on 127.0.0.1, each free for both UDP and TCP a moment
/// ago (several instances of one service, each on its own port).
pub fn free_udp_tcp_ports(n: usize) -> Vec<u16> {
    let mut ports = Vec::with_capacity(n);
    while ports.len() < n {
        let p = free_udp_tcp_port();
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    ports
}
