//! The roster as `application/conference-info+xml` (RFC 4575 §5):
//! a full document for a new subscription, partial ones for each change
//! (§4.4, keyed by the user's `entity`, §4.5), one `version` for the
//! conference that grows by one per change (§4.3, §4.6), nicknames as
//! RFC 7701 §9.6 shows them (RFC 6501's `xcon:nickname` attribute) and in
//! `<display-text>` (RFC 7702 §5.4, Table 2: "<display-text/> |
//! participant nickname").

/// One participant as the focus knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// The participant's URI: the From of its INVITE, or the URI a
    /// simulated participant was added with. It is the `<user>` entity
    /// and the CPIM From of what it sends.
    pub uri: String,
    /// Its nickname once a NICKNAME was accepted (RFC 7701 §7.1), or the
    /// one a simulated participant was added with.
    pub nickname: Option<String>,
    /// The display name of its INVITE's From, if any.
    pub display_name: Option<String>,
    /// Whether it lives inside the focus (added by the test).
    pub simulated: bool,
}

impl RosterEntry {
    /// RFC 4575 §5.6.1 "the user-friendly name in the conference": the
    /// nickname, else the display name.
    pub fn display_text(&self) -> Option<&str> {
        self.nickname.as_deref().or(self.display_name.as_deref())
    }
}

/// One change to the roster, as a partial notification carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RosterChange {
    /// A participant got connected (RFC 4575 §3.6).
    Joined(RosterEntry),
    /// A participant's nickname changed.
    Renamed(RosterEntry),
    /// A participant left (its `<user>` with `state="deleted"`, §4.4).
    Left(String),
}

const NS: &str = "xmlns=\"urn:ietf:params:xml:ns:conference-info\" \
                  xmlns:xcon=\"urn:ietf:params:xml:ns:xcon-conference-info\"";

/// The full state (RFC 4575 §3.2: "a NOTIFY sent in response to a
/// SUBSCRIBE … contain[s] the full state").
pub fn full(entity: &str, subject: Option<&str>, version: u32, users: &[RosterEntry]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<conference-info {NS} entity=\"{}\" state=\"full\" version=\"{version}\">\n",
        escape(entity)
    );
    out.push_str("  <conference-description>\n");
    if let Some(subject) = subject {
        out.push_str(&format!("    <subject>{}</subject>\n", escape(subject)));
    }
    out.push_str("  </conference-description>\n");
    out.push_str(&format!(
        "  <conference-state>\n    <user-count>{}</user-count>\n    <active>true</active>\n  </conference-state>\n",
        users.len()
    ));
    out.push_str("  <users>\n");
    for (i, user) in users.iter().enumerate() {
        out.push_str(&user_element(user, i));
    }
    out.push_str("  </users>\n</conference-info>\n");
    out
}

/// A partial notification of one change (RFC 4575 §4.4, §4.6 step 3).
pub fn partial(entity: &str, version: u32, user_count: usize, change: &RosterChange) -> String {
    let user = match change {
        RosterChange::Joined(user) | RosterChange::Renamed(user) => user_element(user, 0),
        RosterChange::Left(uri) => {
            format!("    <user entity=\"{}\" state=\"deleted\"/>\n", escape(uri))
        }
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<conference-info {NS} entity=\"{}\" state=\"partial\" version=\"{version}\">\n\
         \x20 <conference-state>\n    <user-count>{user_count}</user-count>\n  </conference-state>\n\
         \x20 <users state=\"partial\">\n{user}  </users>\n</conference-info>\n",
        escape(entity)
    )
}

/// A `<user>` in full (RFC 4575 §5.6), with one `<endpoint>` connected
/// by one message media stream (§5.7, §5.8).
fn user_element(user: &RosterEntry, media_id: usize) -> String {
    let nickname = user
        .nickname
        .as_deref()
        .map(|n| format!(" xcon:nickname=\"{}\"", escape(n)))
        .unwrap_or_default();
    let display = user
        .display_text()
        .map(|d| format!("      <display-text>{}</display-text>\n", escape(d)))
        .unwrap_or_default();
    let entity = escape(&user.uri);
    format!(
        "    <user entity=\"{entity}\" state=\"full\"{nickname}>\n{display}\
         \x20     <roles>\n        <entry>participant</entry>\n      </roles>\n\
         \x20     <endpoint entity=\"{entity}\" state=\"full\">\n        <status>connected</status>\n\
         \x20       <media id=\"{media_id}\">\n          <type>message</type>\n        </media>\n\
         \x20     </endpoint>\n    </user>\n"
    )
}

/// XML character data and attribute values (XML 1.0 §2.4, §3.3.3).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bob() -> RosterEntry {
        RosterEntry {
            uri: "sip:bob@example.com".into(),
            nickname: Some("Dopey Donkey".into()),
            display_name: Some("Bob Hoskins".into()),
            simulated: true,
        }
    }

    /// RFC 7701 §9.6, Figure 7: the user's entity, `state="full"`, the
    /// nickname in `xcon:nickname`.
    #[test]
    fn rfc7701_9_6_full_document_carries_nicknames() {
        let doc = full(
            "sip:chatroom22@chat.example.com",
            Some("MSRP nickname example"),
            1,
            &[bob()],
        );
        assert!(
            doc.contains("entity=\"sip:chatroom22@chat.example.com\" state=\"full\" version=\"1\"")
        );
        assert!(doc.contains("<subject>MSRP nickname example</subject>"));
        assert!(doc.contains("<user-count>1</user-count>"));
        assert!(doc.contains(
            "<user entity=\"sip:bob@example.com\" state=\"full\" xcon:nickname=\"Dopey Donkey\">"
        ));
        assert!(doc.contains("<display-text>Dopey Donkey</display-text>"));
        assert!(doc.contains("<status>connected</status>"));
    }

    /// RFC 4575 §4.4: a partial document with the departed user deleted.
    #[test]
    fn rfc4575_4_4_partial_document_deletes_a_user() {
        let doc = partial(
            "sip:room@h",
            3,
            0,
            &RosterChange::Left("sip:bob@example.com".into()),
        );
        assert!(doc.contains("state=\"partial\" version=\"3\""));
        assert!(doc.contains("<users state=\"partial\">"));
        assert!(doc.contains("<user entity=\"sip:bob@example.com\" state=\"deleted\"/>"));
    }

    #[test]
    fn markup_in_nicknames_is_escaped() {
        let mut user = bob();
        user.nickname = Some("<b>&\"".into());
        let doc = partial("sip:room@h", 2, 1, &RosterChange::Renamed(user));
        assert!(doc.contains("xcon:nickname=\"&lt;b&gt;&amp;&quot;\""));
        assert!(!doc.contains("<b>"));
    }
}
