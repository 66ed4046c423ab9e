//! A tiny authoritative DNS server on 127.0.0.1 (UDP, free port) for RFC 3263
//! tests: answers from a fixed record list, logs every question, and stops
//! when dropped. Built on hickory-proto's wire types (re-exported by
//! hickory-resolver), so the bytes are real DNS.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, NAPTR, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// A name, fully qualified.
fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("domain name")
}

/// `owner NAPTR order pref "s" service "" replacement` (RFC 3263 §4.1).
pub fn naptr(owner: &str, order: u16, pref: u16, service: &str, replacement: &str) -> Record {
    Record::from_rdata(
        name(owner),
        60,
        RData::NAPTR(NAPTR::new(
            order,
            pref,
            Box::from(&b"s"[..]),
            Box::from(service.as_bytes()),
            Box::from(&b""[..]),
            name(replacement),
        )),
    )
}

/// `owner SRV priority weight port target` (RFC 2782).
pub fn srv(owner: &str, priority: u16, weight: u16, port: u16, target: &str) -> Record {
    Record::from_rdata(
        name(owner),
        60,
        RData::SRV(SRV::new(priority, weight, port, name(target))),
    )
}

/// `owner A address`.
pub fn a(owner: &str, address: Ipv4Addr) -> Record {
    Record::from_rdata(name(owner), 60, RData::A(A::from(address)))
}

/// The running server.
pub struct DnsServer {
    /// Where it listens.
    pub addr: SocketAddr,
    questions: Arc<Mutex<Vec<(String, RecordType)>>>,
    stop: CancellationToken,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl DnsServer {
    /// Serves `records` on a free UDP port of 127.0.0.1.
    pub async fn start(records: Vec<Record>) -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind dns");
        let addr = socket.local_addr().expect("dns addr");
        let questions = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let log = questions.clone();
        let token = stop.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let (n, peer) = tokio::select! {
                    () = token.cancelled() => return,
                    r = socket.recv_from(&mut buf) => match r {
                        Ok(r) => r,
                        Err(_) => continue,
                    },
                };
                let Ok(request) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let response = answer(&request, &records, &log);
                if let Ok(bytes) = response.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        DnsServer {
            addr,
            questions,
            stop,
        }
    }

    /// Every question asked so far: (name, type), names lower-cased.
    pub fn questions(&self) -> Vec<(String, RecordType)> {
        self.questions.lock().expect("log").clone()
    }
}

/// Authoritative answer: the records of that name and type; NXDOMAIN when
/// the name has none at all.
fn answer(
    request: &Message,
    records: &[Record],
    log: &Mutex<Vec<(String, RecordType)>>,
) -> Message {
    let mut response = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    let Some(query) = request.queries.first() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    let qname = query.name().to_lowercase();
    log.lock()
        .expect("log")
        .push((qname.to_string(), query.query_type()));
    response.add_query(query.clone());
    let same_name: Vec<&Record> = records
        .iter()
        .filter(|r| r.name.to_lowercase() == qname)
        .collect();
    if same_name.is_empty() {
        response.metadata.response_code = ResponseCode::NXDomain;
    }
    for record in same_name {
        if record.record_type() == query.query_type() {
            response.add_answer(record.clone());
        }
    }
    response
}
