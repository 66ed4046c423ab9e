//! A [`Dialog`] kept for a long time, in little memory: its six names
//! (Call-ID, the two tags, the two URIs, the remote target) back to back in
//! one allocation, and the route set (usually empty) in a boxed slice.
//!
//! A `Dialog` is six `String`s and a `Vec`: 168 bytes inline, six
//! allocations each with its own header and spare capacity. A gateway holds
//! one per presence subscription for hours and reads it once per refresh, so
//! this form (64 bytes inline, one allocation of exactly the text) is what
//! it keeps, and it makes the plain [`Dialog`] back when it needs one.

use super::{Dialog, DialogId, DialogRequest};

/// A [`Dialog`] in one allocation (plus one for a non-empty route set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedDialog {
    /// Call-ID, local tag, remote tag, local URI, remote URI, remote
    /// target, back to back.
    text: Box<str>,
    /// Where each of the first five parts ends in `text`.
    ends: [u32; 5],
    route_set: Box<[Box<str>]>,
    local_seq: u32,
    remote_seq: Option<u32>,
}

impl PackedDialog {
    /// The dialog's parts, in the order of `text`.
    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let end = self.ends.get(i).map_or(self.text.len(), |&e| e as usize);
        self.text.get(start..end).unwrap_or_default()
    }

    /// Call-ID.
    pub fn call_id(&self) -> &str {
        self.part(0)
    }

    /// Our tag.
    pub fn local_tag(&self) -> &str {
        self.part(1)
    }

    /// The peer's tag.
    pub fn remote_tag(&self) -> &str {
        self.part(2)
    }

    /// Our URI.
    pub fn local_uri(&self) -> &str {
        self.part(3)
    }

    /// The peer's URI.
    pub fn remote_uri(&self) -> &str {
        self.part(4)
    }

    /// Where our requests go.
    pub fn remote_target(&self) -> &str {
        self.part(5)
    }

    /// The CSeq number of our last request.
    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    /// The plain dialog again.
    pub fn to_dialog(&self) -> Dialog {
        Dialog {
            id: DialogId {
                call_id: self.call_id().to_owned(),
                local_tag: self.local_tag().to_owned(),
                remote_tag: self.remote_tag().to_owned(),
            },
            local_uri: self.local_uri().to_owned(),
            remote_uri: self.remote_uri().to_owned(),
            remote_target: self.remote_target().to_owned(),
            route_set: self.route_set.iter().map(|r| r.to_string()).collect(),
            local_seq: self.local_seq,
            remote_seq: self.remote_seq,
        }
    }

    /// RFC 3261 §12.2.1.1, as [`Dialog::next_request`]: the next request;
    /// the local CSeq goes up by one.
    pub fn next_request(&mut self, method: &str) -> DialogRequest {
        let mut dialog = self.to_dialog();
        let request = dialog.next_request(method);
        self.local_seq = dialog.local_seq;
        request
    }
}

impl From<&Dialog> for PackedDialog {
    fn from(d: &Dialog) -> Self {
        let parts = [
            d.id.call_id.as_str(),
            &d.id.local_tag,
            &d.id.remote_tag,
            &d.local_uri,
            &d.remote_uri,
            &d.remote_target,
        ];
        let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0u32; 5];
        for (i, part) in parts.iter().enumerate() {
            text.push_str(part);
            if let Some(end) = ends.get_mut(i) {
                // A dialog's names are header values, far below 4 GiB.
                *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
            }
        }
        PackedDialog {
            text: text.into_boxed_str(),
            ends,
            route_set: d.route_set.iter().map(|r| r.as_str().into()).collect(),
            local_seq: d.local_seq,
            remote_seq: d.remote_seq,
        }
    }
}

impl From<Dialog> for PackedDialog {
    fn from(d: Dialog) -> Self {
        PackedDialog::from(&d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog(route_set: Vec<String>) -> Dialog {
        Dialog {
            id: DialogId {
                call_id: "a84b4c76e66710@pc33.atlanta.com".into(),
                local_tag: "1928301774".into(),
                remote_tag: "".into(),
            },
            local_uri: "sip:alice@atlanta.com".into(),
            remote_uri: "sip:bob@biloxi.com".into(),
            remote_target: "sip:bob@192.0.2.4".into(),
            route_set,
            local_seq: 314159,
            remote_seq: Some(7),
        }
    }

    /// Packing keeps every part, an empty one included, and the route set in order.
    #[test]
    fn a_packed_dialog_gives_back_the_dialog_it_was_made_from() {
        for routes in [
            vec![],
            vec![
                "<sip:p1.example.com;lr>".into(),
                "<sip:p2.example.com;lr>".into(),
            ],
        ] {
            let plain = dialog(routes);
            let packed = PackedDialog::from(&plain);
            assert_eq!(packed.to_dialog(), plain);
            assert_eq!(packed.call_id(), "a84b4c76e66710@pc33.atlanta.com");
            assert_eq!(packed.remote_tag(), "");
            assert_eq!(packed.remote_target(), "sip:bob@192.0.2.4");
        }
    }

    /// RFC 3261 §12.2.1.1: each request takes the next CSeq, as from the plain dialog.
    #[test]
    fn a_packed_dialog_numbers_its_requests_as_the_plain_one() {
        let mut plain = dialog(vec!["<sip:p1.example.com;lr>".into()]);
        let mut packed = PackedDialog::from(&plain);
        for _ in 0..3 {
            assert_eq!(
                packed.next_request("SUBSCRIBE"),
                plain.next_request("SUBSCRIBE")
            );
        }
        assert_eq!(packed.local_seq(), 314162);
        assert_eq!(packed.to_dialog(), plain);
    }

    /// The point of it: one allocation of the text, a small inline size.
    #[test]
    fn a_packed_dialog_is_smaller_inline_than_a_plain_one() {
        assert!(
            size_of::<PackedDialog>() <= 64,
            "{}",
            size_of::<PackedDialog>()
        );
        assert!(size_of::<Dialog>() >= 160);
    }
}
