//! The MIME header fields of a received SIP request that an RFC 3923
//! object is rebuilt from: shared by page mode (`message/`) and presence
//! (`presence/`), which may not import each other.

use parley_sip::{IncomingRequest, RequestView};

/// The header fields of a received request that an RFC 3923 object's MIME
/// header block is rebuilt from (`parley_mapping::e2e::CARRIED_FIELDS`),
/// read before the request is consumed; empty ([`Default`]) where no
/// object is rebuilt.
#[derive(Default)]
pub(crate) struct MimeFields(Vec<(&'static str, String)>);

impl MimeFields {
    pub(crate) fn of(request: &IncomingRequest) -> Self {
        Self::of_view(request.view())
    }

    /// [`MimeFields::of`] a request's view.
    pub(crate) fn of_view(view: &RequestView) -> Self {
        Self(
            parley_mapping::e2e::CARRIED_FIELDS
                .iter()
                .filter_map(|name| view.header(name).map(|v| (*name, v)))
                .collect(),
        )
    }

    /// The value of field `name`, if the request had it.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}
