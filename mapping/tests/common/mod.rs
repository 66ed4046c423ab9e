//! Test-only reading of SIP fixture files into the mapping's neutral
//! `SipMessage` (the real parser lives in the `sip` crate; this reads only the
//! few headers RFC 7572 maps, full header names and the compact forms).
#![allow(dead_code, clippy::unwrap_used)]

use parley_mapping::{SipAddress, SipMessage};

/// Read a fixture under `tests/fixtures/`.
pub(crate) fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The URI inside a From/To value (`<uri>;tag=x` or `uri;tag=x`).
pub(crate) fn header_uri(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap().trim(),
    }
}

/// Split a SIP request into a `SipMessage`.
pub(crate) fn sip_message(bytes: &[u8]) -> SipMessage {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head end");
    let head = std::str::from_utf8(&bytes[..split]).unwrap();
    let body = bytes[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap();
    let request_uri = request_line.split(' ').nth(1).unwrap();
    let mut get = std::collections::HashMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        let name = match name.trim().to_ascii_lowercase().as_str() {
            "f" => "from".to_owned(),
            "t" => "to".to_owned(),
            "i" => "call-id".to_owned(),
            "c" => "content-type".to_owned(),
            "e" => "content-encoding".to_owned(),
            "s" => "subject".to_owned(),
            other => other.to_owned(),
        };
        get.insert(name, value.trim().to_owned());
    }
    let from_value = get["from"].clone();
    let from_display = from_value
        .find('<')
        .map(|i| from_value[..i].trim().trim_matches('"').to_owned())
        .filter(|d| !d.is_empty());
    SipMessage {
        request_uri: SipAddress::parse(request_uri).unwrap(),
        from: SipAddress::parse(header_uri(&from_value)).unwrap(),
        to: SipAddress::parse(header_uri(&get["to"])).unwrap(),
        from_display,
        call_id: get.get("call-id").cloned(),
        subject: get.get("subject").cloned(),
        content_type: get.get("content-type").cloned(),
        content_encoding: get.get("content-encoding").cloned(),
        content_language: get.get("content-language").cloned(),
        body,
    }
}
