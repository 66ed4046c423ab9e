//! RFC 4975 §7.1, §7.2, §9: writing a frame's exact bytes.

use crate::wire::{Frame, StartLine};

impl Frame {
    /// Appends the frame's bytes to `out`: start line, header fields in
    /// order, the body after an empty line, and the end-line.
    ///
    /// §7.1: "The body MUST be separated from the header fields with an
    /// extra CRLF", "If a body is present, the end-line MUST be preceded by
    /// a CRLF that is not part of the body", and a bodiless request has "no
    /// extra CRLF ... between the header section and the end-line".
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut head = String::with_capacity(256);
        head.push_str("MSRP ");
        head.push_str(self.transaction_id.as_str());
        head.push(' ');
        match &self.start {
            StartLine::Request(method) => head.push_str(method.as_str()),
            StartLine::Response { status, comment } => {
                head.push_str(&status.to_string());
                if let Some(comment) = comment {
                    head.push(' ');
                    head.push_str(comment);
                }
            }
        }
        head.push_str("\r\n");
        for header in &self.headers {
            head.push_str(header.name());
            head.push_str(": ");
            header.write_value(&mut head);
            head.push_str("\r\n");
        }
        out.extend_from_slice(head.as_bytes());
        if let Some(body) = &self.body {
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"-------");
        out.extend_from_slice(self.transaction_id.as_str().as_bytes());
        out.push(self.continuation.as_byte());
        out.extend_from_slice(b"\r\n");
    }

    /// The frame's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}
