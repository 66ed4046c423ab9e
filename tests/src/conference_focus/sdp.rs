//! The MSRP media line of an offer and the focus's answer: RFC 4975 §8
//! (`m=message … TCP/MSRP *`, `a=path`, `a=accept-types`,
//! `a=accept-wrapped-types`), RFC 6135 §4.2 (`a=setup`) and RFC 7701 §8
//! (`a=chatroom`).

/// Who opens the MSRP connection (RFC 6135 §4.2, RFC 4145).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setup {
    /// Opens the connection.
    Active,
    /// Waits for it.
    Passive,
    /// Either.
    ActPass,
}

/// What the focus needs from a participant's offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MsrpOffer {
    /// `a=path`: the URIs, the participant's own last (RFC 4975 §8.2).
    pub(crate) path: Vec<String>,
    /// `a=accept-types`, lowercased.
    pub(crate) accept_types: Vec<String>,
    /// `a=accept-wrapped-types`, lowercased.
    pub(crate) accept_wrapped_types: Vec<String>,
    /// `a=setup`, `None` when absent (or `holdconn`, RFC 6135 §4.2.1).
    pub(crate) setup: Option<Setup>,
    /// `a=chatroom` tokens, `None` when there is no such attribute (RFC 7701 §8).
    pub(crate) chatroom: Option<Vec<String>>,
}

/// What an offer lacks, so it gets no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OfferLacks {
    /// No `m=message` line with `TCP/MSRP` and a non-zero port.
    MsrpMedia,
    /// No `a=path` on the MSRP media line.
    Path,
    /// RFC 7701 §5.2: "If the 'accept-types' attribute does not contain
    /// the value 'Message/CPIM', the conference focus will reject the
    /// request."
    MessageCpim,
}

impl OfferLacks {
    /// A short name, for logs and assertions.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            OfferLacks::MsrpMedia => "no_msrp_media",
            OfferLacks::Path => "no_path",
            OfferLacks::MessageCpim => "no_message_cpim",
        }
    }
}

/// Read the first MSRP media line of `sdp`.
pub(crate) fn parse_offer(sdp: &str) -> Result<MsrpOffer, OfferLacks> {
    let mut in_msrp = false;
    let mut seen = false;
    let mut offer = MsrpOffer {
        path: Vec::new(),
        accept_types: Vec::new(),
        accept_wrapped_types: Vec::new(),
        setup: None,
        chatroom: None,
    };
    for line in sdp.lines().map(str::trim_end) {
        if let Some(media) = line.strip_prefix("m=") {
            if seen {
                break;
            }
            let words: Vec<&str> = media.split_whitespace().collect();
            in_msrp = words.first() == Some(&"message")
                && words
                    .get(2)
                    .is_some_and(|p| p.eq_ignore_ascii_case("TCP/MSRP"))
                && words.get(1).is_some_and(|p| *p != "0");
            seen = in_msrp;
            continue;
        }
        if !in_msrp {
            continue;
        }
        let Some(attr) = line.strip_prefix("a=") else {
            continue;
        };
        let (name, value) = attr.split_once(':').unwrap_or((attr, ""));
        let list = || {
            value
                .split_whitespace()
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
        };
        match name {
            "path" => offer.path = value.split_whitespace().map(str::to_owned).collect(),
            "accept-types" => offer.accept_types = list(),
            "accept-wrapped-types" => offer.accept_wrapped_types = list(),
            "setup" => {
                offer.setup = match value.trim() {
                    "active" => Some(Setup::Active),
                    "passive" => Some(Setup::Passive),
                    "actpass" => Some(Setup::ActPass),
                    _ => None,
                }
            }
            "chatroom" => {
                offer.chatroom = Some(value.split_whitespace().map(str::to_owned).collect())
            }
            _ => {}
        }
    }
    if !seen {
        return Err(OfferLacks::MsrpMedia);
    }
    if offer.path.is_empty() {
        return Err(OfferLacks::Path);
    }
    if !offer.accept_types.iter().any(|t| t == "message/cpim") {
        return Err(OfferLacks::MessageCpim);
    }
    Ok(offer)
}

impl MsrpOffer {
    /// The focus's side of the connection. RFC 6135 §4.2.2: to "actpass"
    /// the answerer "SHOULD include an a=setup "passive" attribute value
    /// if it knows that it is not located behind a NAT" (the focus is on
    /// loopback); to "active", passive; to "passive", active. Without
    /// a=setup, RFC 4975 §5.4: "the initiating endpoint MUST act as the
    /// "active" endpoint", so the focus is passive.
    pub(crate) fn answer_setup(&self) -> Setup {
        match self.setup {
            Some(Setup::Passive) => Setup::Active,
            _ => Setup::Passive,
        }
    }

    /// Whether the participant's endpoint takes private messages (RFC 7701 §8).
    pub(crate) fn takes_private_messages(&self) -> bool {
        self.chatroom
            .as_ref()
            .is_some_and(|tokens| tokens.iter().any(|t| t == "private-messages"))
    }

    /// Whether the participant accepts a wrapped `content_type` (RFC 7701
    /// §6.1: "the MSRP switch MUST evaluate the wrapped media types that
    /// the recipient is able to accept"). An offer without
    /// accept-wrapped-types takes what its accept-types take.
    pub(crate) fn accepts_wrapped(&self, content_type: &str) -> bool {
        let bare = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let list = if self.accept_wrapped_types.is_empty() {
            &self.accept_types
        } else {
            &self.accept_wrapped_types
        };
        list.iter().any(|t| {
            t == "*"
                || *t == bare
                || t.strip_suffix("/*")
                    .is_some_and(|top| bare.starts_with(&format!("{top}/")))
        })
    }
}

/// The focus's answer (RFC 7701 §9.1 F2 and §5.2: "it MUST set the
/// 'accept-types' attribute for the MSRP message media line to a value of
/// 'Message/CPIM'").
pub(crate) fn answer(msrp_port: u16, path: &str, setup: Setup, chatroom: &str) -> String {
    let (port, setup) = match setup {
        // RFC 6135 §4.2.2: "if the a=setup attribute value is "active",
        // the port number value should be 9".
        Setup::Active => (9, "active"),
        Setup::Passive | Setup::ActPass => (msrp_port, "passive"),
    };
    let chatroom = if chatroom.is_empty() {
        "a=chatroom\r\n".to_owned()
    } else {
        format!("a=chatroom:{chatroom}\r\n")
    };
    format!(
        "v=0\r\no=focus 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message {port} TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
         a=accept-wrapped-types:text/plain text/html *\r\na=path:{path}\r\na=setup:{setup}\r\n{chatroom}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7701 §9.1 F1's SDP.
    const RFC7701_9_1_F1: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\n\
        s=-\r\nc=IN IP4 client.atlanta.example.com\r\nm=message 7654 TCP/MSRP *\r\n\
        a=accept-types:message/cpim text/plain text/html\r\n\
        a=path:msrp://client.atlanta.example.com:7654/jshA7weztas;tcp\r\n\
        a=chatroom:nickname private-messages\r\n";

    #[test]
    fn rfc7701_9_1_offer_is_read() {
        let offer = parse_offer(RFC7701_9_1_F1).expect("an MSRP offer");
        assert_eq!(
            offer.path,
            ["msrp://client.atlanta.example.com:7654/jshA7weztas;tcp"]
        );
        assert!(offer.takes_private_messages());
        assert!(offer.accepts_wrapped("text/plain; charset=utf-8"));
        assert!(!offer.accepts_wrapped("image/png"));
        assert_eq!(offer.answer_setup(), Setup::Passive);
    }

    /// RFC 7702 §5.1 Example 2 offers `a=accept-types:text/cpim`, which is
    /// not Message/CPIM: RFC 7701 §5.2 has the focus reject it.
    #[test]
    fn rfc7702_5_1_example_2_text_cpim_is_refused() {
        let sdp = "c=IN IP4 x2s.example.org\r\nm=message 7654 TCP/MSRP *\r\na=accept-types:text/cpim\r\n\
                   a=accept-wrapped-types:text/plain text/html\r\n\
                   a=path:msrp://x2m.example.com:7654/jshA7weztas;tcp\r\na=chatroom:nickname private-messages\r\n";
        assert_eq!(parse_offer(sdp), Err(OfferLacks::MessageCpim));
    }

    #[test]
    fn offers_without_msrp_are_refused() {
        assert_eq!(
            parse_offer("v=0\r\nm=audio 4000 RTP/AVP 0\r\n"),
            Err(OfferLacks::MsrpMedia)
        );
        assert_eq!(
            parse_offer("m=message 7 TCP/MSRP *\r\na=accept-types:message/cpim\r\n"),
            Err(OfferLacks::Path)
        );
    }

    #[test]
    fn a_passive_offer_makes_the_focus_active_on_port_9() {
        let offer = parse_offer(&format!("{RFC7701_9_1_F1}a=setup:passive\r\n")).expect("offer");
        assert_eq!(offer.answer_setup(), Setup::Active);
        let sdp = answer(
            4000,
            "msrp://127.0.0.1:4000/s;tcp",
            Setup::Active,
            "nickname",
        );
        assert!(sdp.contains("m=message 9 TCP/MSRP *\r\n"), "{sdp}");
        assert!(sdp.contains("a=setup:active\r\n"));
        assert!(sdp.contains("a=chatroom:nickname\r\n"));
    }
}
