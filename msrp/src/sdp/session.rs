//! RFC 8866 §5: a whole session description, read and written with
//! `sdp-types` (chosen in `msrp/SDP-CRATES.md`), which stays private here.

use crate::sdp::error::{MediaError, ParseError};
use crate::sdp::media::{
    ConnectionAddress, MediaLimits, MsrpMedia, connection_address, to_sdp_connection,
};

/// A parsed session description: any media, with typed MSRP views on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    inner: sdp_types::Session,
}

/// One m-line as received, whatever its media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLine<'a> {
    /// The media field (`message`, `audio`, …).
    pub media: &'a str,
    /// The port; 0 means refused (RFC 3264 §6).
    pub port: u16,
    /// The protocol field.
    pub proto: &'a str,
    /// The format list as one string.
    pub fmt: &'a str,
}

/// The `o=` line of SDP we write: RFC 8866 §5.2; RFC 3264 §6 wants the
/// answer's to differ from the offer's, so the caller supplies the ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `<username>`, `-` when there is none.
    pub username: String,
    /// `<sess-id>`: a number unique to this session (the caller's RNG).
    pub session_id: u64,
    /// `<sess-version>`: increased with each change (RFC 3264 §8).
    pub session_version: u64,
}

impl SessionDescription {
    /// Parses an SDP body of at most `max_len` bytes. CRLF or bare LF line
    /// ends (RFC 8866 §5: "parsers SHOULD be tolerant and also accept lines
    /// terminated with a single newline character").
    pub fn parse(body: &[u8], max_len: usize) -> Result<Self, ParseError> {
        if body.len() > max_len {
            return Err(ParseError::TooLarge {
                len: body.len(),
                limit: max_len,
            });
        }
        let inner = sdp_types::Session::parse(body).map_err(|e| ParseError::Syntax {
            detail: e.to_string(),
        })?;
        Ok(Self { inner })
    }

    /// The m-lines in order.
    pub fn media_lines(&self) -> impl ExactSizeIterator<Item = MediaLine<'_>> {
        self.inner.medias.iter().map(|m| MediaLine {
            media: &m.media,
            port: m.port,
            proto: &m.proto,
            fmt: &m.fmt,
        })
    }

    /// The typed MSRP view of m-line `index`.
    pub fn msrp_media(&self, index: usize, limits: MediaLimits) -> Result<MsrpMedia, MediaError> {
        let media = self.inner.medias.get(index).ok_or(MediaError::NotMessage)?;
        MsrpMedia::from_sdp(media, &self.inner, limits)
    }

    /// The SDP text, CRLF line ends (RFC 8866 §5: "The sequence CRLF
    /// (0x0d0a) is used to end a line").
    pub fn write_to(&self, out: &mut String) {
        // sdp-types writes CRLF and only fails if the sink does.
        out.push_str(&self.inner.to_string());
    }

    /// A new description: `v=0`, `o=`, `s=-` (RFC 8866 §5.3 recommends "-"
    /// when there is no name), session-level `c=`, `t=` and the media.
    pub(crate) fn build(
        origin: &Origin,
        connection: &ConnectionAddress,
        time: (u64, u64),
        medias: Vec<sdp_types::Media>,
    ) -> Self {
        let c = to_sdp_connection(connection);
        let inner = sdp_types::Session {
            origin: sdp_types::Origin {
                // RFC 8866 §5.2: "-" when there is no user; a name with
                // spaces would break the line, so it is written as "-" too.
                username: Some(origin.username.clone()).filter(|u| {
                    !u.is_empty()
                        && u != "-"
                        && !u.contains(|c: char| c.is_ascii_whitespace() || c.is_control())
                }),
                sess_id: origin.session_id.to_string(),
                sess_version: origin.session_version,
                nettype: c.nettype.clone(),
                addrtype: c.addrtype.clone(),
                unicast_address: c.connection_address.clone(),
            },
            session_name: "-".to_owned(),
            session_description: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: Some(c),
            bandwidths: Vec::new(),
            times: vec![sdp_types::Time {
                start_time: time.0,
                stop_time: time.1,
                repeats: Vec::new(),
            }],
            time_zones: Vec::new(),
            key: None,
            attributes: Vec::new(),
            medias,
        };
        Self { inner }
    }

    /// The first `t=` line, `0 0` when absent. RFC 3264 §6: "The "t=" line
    /// in the answer MUST equal that of the offer."
    pub(crate) fn time(&self) -> (u64, u64) {
        self.inner
            .times
            .first()
            .map(|t| (t.start_time, t.stop_time))
            .unwrap_or((0, 0))
    }

    /// The session-level connection address, if any.
    pub fn connection(&self) -> Option<ConnectionAddress> {
        self.inner.connection.as_ref().and_then(connection_address)
    }

    /// The raw media description `index`, to mirror it in a refusal.
    pub(crate) fn raw_media(&self, index: usize) -> Option<&sdp_types::Media> {
        self.inner.medias.get(index)
    }
}

impl std::fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.inner, f)
    }
}
