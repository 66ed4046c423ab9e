//! RFC 4575 §5: the `application/conference-info+xml` document, read into
//! typed data, with RFC 6501's `xcon:nickname` on `<user>` (RFC 7701 §7.4).
//!
//! What it reads: the root's `entity`, `state` and `version` (§5.2);
//! `<conference-description>` (§5.3: display-text, subject, free-text,
//! keywords, conf-uris, service-uris, maximum-user-count);
//! `<conference-state>` (§5.5); `<users>` with each `<user>` (§5.6) and its
//! `<endpoint>`s (§5.7: display-text, status, joining-method, joining-info,
//! disconnection-method, media). What it leaves out: `<host-info>`,
//! `<available-media>`, sidebars (§5.9), `<referred>`, `<call-info>`,
//! `<disconnection-info>` and media `<src-id>` — nothing RFC 7702's Tables 2
//! and 3 map. Unknown elements are ignored (the schema's `xs:any`).
//!
//! Hostile input is bounded: the crate's `xml` module (no DTD, depth and
//! element limits) under [`ConferenceLimits`], and a cap on users and on
//! endpoints per user. RFC 7702's own examples (§5.4 Example 9, §6.2
//! Example 32) omit the namespace declaration; such unqualified documents are
//! read too, every element then unqualified alike.
//!
//! [`ConferenceInfo::to_xml`] (in `conference_write.rs`) writes a document
//! back; [`super::coherent_state`] applies partial documents (§4.6).

use parley_xmpp::stanza::{Element, Node};

use crate::xml::{self, Limits};

/// RFC 4575 §4.2: the conference-info namespace.
pub const NS_CONFERENCE_INFO: &str = "urn:ietf:params:xml:ns:conference-info";
/// RFC 6501 §4.6.5 (via RFC 7701 §9.6): the XCON namespace of `nickname`.
pub const NS_XCON: &str = "urn:ietf:params:xml:ns:xcon-conference-info";
/// RFC 4575 §10.2: the media type of the document.
pub const MEDIA_TYPE: &str = "application/conference-info+xml";

/// Bounds on one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConferenceLimits {
    /// Largest document in bytes.
    pub max_bytes: usize,
    /// Most elements in a document (a user with one endpoint is about ten).
    pub max_elements: usize,
    /// Most `<user>` elements.
    pub max_users: usize,
    /// Most `<endpoint>` elements under one `<user>`.
    pub max_endpoints_per_user: usize,
}

impl Default for ConferenceLimits {
    fn default() -> Self {
        Self {
            max_bytes: 512 * 1024,
            max_elements: 32 * 1024,
            max_users: 1000,
            max_endpoints_per_user: 16,
        }
    }
}

/// Why a body is not a usable conference-info document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConferenceInfoError {
    /// Larger than [`ConferenceLimits::max_bytes`].
    #[error("conference-info document larger than {limit} bytes")]
    TooLarge {
        /// The bound in bytes.
        limit: usize,
    },
    /// Nested deeper, or with more elements, than the limits allow.
    #[error("conference-info document too deep or with too many elements")]
    TooComplex,
    /// RFC 4575 §4.1: "MUST be well-formed"; it is not (or not UTF-8, or
    /// carries a DTD).
    #[error("conference-info document is not well-formed XML: {reason}")]
    NotXml {
        /// What was wrong (for logs; never sent to a peer).
        reason: &'static str,
    },
    /// Well-formed XML whose root is not `<conference-info>`.
    #[error("document is not a <conference-info>")]
    NotConferenceInfo,
    /// A required attribute is missing (§5.2 entity and version, §4.5 keys).
    #[error("<{element}> lacks the '{attribute}' attribute")]
    MissingAttribute {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
    },
    /// An attribute outside its type (`state`, `version`).
    #[error("<{element}> has an invalid '{attribute}'")]
    InvalidAttribute {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
    },
    /// §4.5: "The key value MUST be unique for the element among its
    /// siblings of the same type."
    #[error("two <{element}> siblings share a key")]
    DuplicateKey {
        /// The element.
        element: &'static str,
    },
    /// More users (or endpoints of one user) than the limits allow.
    #[error("more than {limit} <{element}> elements")]
    TooMany {
        /// `user` or `endpoint`.
        element: &'static str,
        /// The bound.
        limit: usize,
    },
}

impl ConferenceInfoError {
    /// A stable name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::TooComplex => "too_complex",
            Self::NotXml { .. } => "not_xml",
            Self::NotConferenceInfo => "not_conference_info",
            Self::MissingAttribute { .. } => "missing_attribute",
            Self::InvalidAttribute { .. } => "invalid_attribute",
            Self::DuplicateKey { .. } => "duplicate_key",
            Self::TooMany { .. } => "too_many",
        }
    }
}

/// §4.4: the `state` attribute; absent means `full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ElementState {
    /// The whole element.
    #[default]
    Full,
    /// Only what changed since the previous document.
    Partial,
    /// The element was removed.
    Deleted,
}

impl ElementState {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Partial => "partial",
            Self::Deleted => "deleted",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "full" => Some(Self::Full),
            "partial" => Some(Self::Partial),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

/// §5.2: a `<conference-info>` document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConferenceInfo {
    /// `entity`: the conference URI (RFC 7702 Table 2: the room JID).
    pub entity: String,
    /// `state`: full, partial or deleted.
    pub state: ElementState,
    /// `version` (§4.3: MUST be present), a 32-bit counter.
    pub version: u32,
    /// §5.3 `<conference-description>` (atomic: replaced whole).
    pub description: Option<ConferenceDescription>,
    /// §5.5 `<conference-state>` (atomic).
    pub conference_state: Option<ConferenceState>,
    /// §5.6 `<users>`.
    pub users: Option<Users>,
}

/// §5.3: the conference as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConferenceDescription {
    /// `<display-text>`.
    pub display_text: Option<String>,
    /// `<subject>` (RFC 7702 Table 2: the room subject).
    pub subject: Option<String>,
    /// `<free-text>`.
    pub free_text: Option<String>,
    /// `<keywords>`.
    pub keywords: Option<String>,
    /// §5.3.1 `<conf-uris>`.
    pub conf_uris: Vec<UriEntry>,
    /// §5.3.2 `<service-uris>`.
    pub service_uris: Vec<UriEntry>,
    /// §5.3.3 `<maximum-user-count>`.
    pub maximum_user_count: Option<u32>,
}

/// An `<entry>` of a `uris-type` list (§5.3.1, §5.6.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UriEntry {
    /// `<uri>` (the first one: RFC 7702 Example 32 puts two in one entry).
    pub uri: String,
    /// `<display-text>`.
    pub display_text: Option<String>,
    /// `<purpose>`.
    pub purpose: Option<String>,
}

/// §5.5: `<conference-state>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConferenceState {
    /// §5.5.1 `<user-count>`.
    pub user_count: Option<u32>,
    /// §5.5.2 `<active>`.
    pub active: Option<bool>,
    /// §5.5.3 `<locked>`.
    pub locked: Option<bool>,
}

/// §5.6: `<users>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Users {
    /// `state`.
    pub state: ElementState,
    /// The `<user>` rows, keyed by `entity` (§4.5).
    pub users: Vec<User>,
}

/// §5.6: one participant. Optional fields are `None` when the element is
/// absent, which in a partial `<user>` means "unchanged" (§4.6 step 3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    /// `entity`, the key (RFC 7702 Table 2: the occupant JID).
    pub entity: String,
    /// `state`.
    pub state: ElementState,
    /// RFC 6501 `xcon:nickname` (RFC 7701 §7.4); RFC 7702 §7: the nickname.
    pub nickname: Option<String>,
    /// §5.6.1 `<display-text>` (RFC 7702 Table 2: the participant nickname
    /// when there is no `xcon:nickname`, §7).
    pub display_text: Option<String>,
    /// §5.6.2 `<associated-aors>` (RFC 7702 Table 2: the user's full JID).
    pub associated_aors: Option<Vec<UriEntry>>,
    /// §5.6.3 `<roles>` entries.
    pub roles: Option<Vec<String>>,
    /// §5.6.4 `<languages>`, space-separated tokens as written.
    pub languages: Option<String>,
    /// §5.6.6 endpoints, keyed by `entity`.
    pub endpoints: Vec<Endpoint>,
}

/// §5.7: one device or signalling session of a user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoint {
    /// `entity`, the key.
    pub entity: String,
    /// `state`.
    pub state: ElementState,
    /// §5.7.1 `<display-text>`.
    pub display_text: Option<String>,
    /// §5.7.3 `<status>`.
    pub status: Option<EndpointStatus>,
    /// §5.7.4 `<joining-method>`.
    pub joining_method: Option<JoiningMethod>,
    /// §5.7.5 `<joining-info>`.
    pub joining_info: Option<ExecutionInfo>,
    /// §5.7.6 `<disconnection-method>`.
    pub disconnection_method: Option<DisconnectionMethod>,
    /// §5.7.8 media streams, keyed by `id`.
    pub media: Vec<Media>,
}

/// §5.7.5: when, why and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecutionInfo {
    /// `<when>`, an XML dateTime as written.
    pub when: Option<String>,
    /// `<reason>`.
    pub reason: Option<String>,
    /// `<by>`.
    pub by: Option<String>,
}

/// §5.8: one media stream of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Media {
    /// `id`, the key.
    pub id: String,
    /// §5.8.1 `<display-text>`.
    pub display_text: Option<String>,
    /// §5.8.2 `<type>` (`message` for MSRP, RFC 7702 Example 9).
    pub media_type: Option<String>,
    /// §5.8.3 `<label>`.
    pub label: Option<String>,
    /// §5.8.5 `<status>`: sendrecv, sendonly, recvonly or inactive, as written.
    pub status: Option<String>,
}

macro_rules! token_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// The value as written in the document.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }

            /// The value for its token; `None` outside the schema's list.
            pub fn parse(text: &str) -> Option<Self> {
                match text.trim() {
                    $($text => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

token_enum!(
    /// §5.7.3: the endpoint's status.
    EndpointStatus {
        /// `connected`: a participant.
        Connected = "connected",
        /// `disconnected`: not a participant, no dialog.
        Disconnected = "disconnected",
        /// `on-hold`.
        OnHold = "on-hold",
        /// `muted-via-focus`.
        MutedViaFocus = "muted-via-focus",
        /// `pending`: anticipated to join.
        Pending = "pending",
        /// `alerting`.
        Alerting = "alerting",
        /// `dialing-in`: not yet in the roster.
        DialingIn = "dialing-in",
        /// `dialing-out`: not yet in the roster.
        DialingOut = "dialing-out",
        /// `disconnecting`.
        Disconnecting = "disconnecting",
    }
);

token_enum!(
    /// §5.7.4: how the endpoint joined.
    JoiningMethod {
        /// `dialed-in`.
        DialedIn = "dialed-in",
        /// `dialed-out`.
        DialedOut = "dialed-out",
        /// `focus-owner`.
        FocusOwner = "focus-owner",
    }
);

token_enum!(
    /// §5.7.6: how the endpoint departed.
    DisconnectionMethod {
        /// `departed`: it sent a BYE.
        Departed = "departed",
        /// `booted`: the focus removed it.
        Booted = "booted",
        /// `failed`: the attempt to bring it in failed.
        Failed = "failed",
        /// `busy`: it was busy.
        Busy = "busy",
    }
);

impl ConferenceInfo {
    /// Parse a document under the default [`ConferenceLimits`].
    pub fn parse(bytes: &[u8]) -> Result<Self, ConferenceInfoError> {
        Self::parse_with(bytes, ConferenceLimits::default())
    }

    /// Parse a document under these limits.
    pub fn parse_with(bytes: &[u8], limits: ConferenceLimits) -> Result<Self, ConferenceInfoError> {
        if bytes.len() > limits.max_bytes {
            return Err(ConferenceInfoError::TooLarge {
                limit: limits.max_bytes,
            });
        }
        let xml_limits = Limits {
            max_bytes: limits.max_bytes,
            // The schema nests at most conference-info/users/user/endpoint/
            // media/…; 16 leaves room for extensions and is still shallow.
            max_depth: 16,
            max_elements: limits.max_elements,
        };
        let root = xml::parse(bytes, xml_limits).map_err(|reason| match reason {
            "document too deep or too large" => ConferenceInfoError::TooComplex,
            reason => ConferenceInfoError::NotXml { reason },
        })?;
        if root.name != "conference-info" || !(root.ns == NS_CONFERENCE_INFO || root.ns.is_empty())
        {
            return Err(ConferenceInfoError::NotConferenceInfo);
        }
        Reader {
            ns: &root.ns,
            limits,
        }
        .conference_info(&root)
    }
}

/// Reads elements of the root's namespace.
struct Reader<'a> {
    ns: &'a str,
    limits: ConferenceLimits,
}

impl Reader<'_> {
    fn conference_info(&self, root: &Element) -> Result<ConferenceInfo, ConferenceInfoError> {
        let entity = required(root, "conference-info", "entity")?;
        let state = state_of(root, "conference-info")?;
        // §5.2: "it MUST be used with the root <conference-info> element".
        let version = required(root, "conference-info", "version")?
            .parse::<u32>()
            .map_err(|_| ConferenceInfoError::InvalidAttribute {
                element: "conference-info",
                attribute: "version",
            })?;
        let mut doc = ConferenceInfo {
            entity,
            state,
            version,
            ..ConferenceInfo::default()
        };
        // §4.4: "Any information provided for child elements of a 'deleted'
        // parent MUST be ignored by the package subscriber."
        if state == ElementState::Deleted {
            return Ok(doc);
        }
        for child in self.children(root) {
            match child.name.as_str() {
                "conference-description" => doc.description = Some(self.description(child)),
                "conference-state" => doc.conference_state = Some(self.conference_state(child)),
                "users" => doc.users = Some(self.users(child)?),
                _ => {}
            }
        }
        Ok(doc)
    }

    fn children<'e>(&self, e: &'e Element) -> impl Iterator<Item = &'e Element> + use<'e, '_> {
        e.children.iter().filter_map(move |n| match n {
            Node::Element(c) if c.ns == self.ns => Some(c),
            _ => None,
        })
    }

    fn text_of(&self, e: &Element, name: &str) -> Option<String> {
        self.children(e).find(|c| c.name == name).map(Element::text)
    }

    fn token_of(&self, e: &Element, name: &str) -> Option<String> {
        self.text_of(e, name).map(|t| t.trim().to_owned())
    }

    fn description(&self, e: &Element) -> ConferenceDescription {
        let uris = |name: &str| {
            self.children(e)
                .find(|c| c.name == name)
                .map(|list| self.uri_entries(list))
                .unwrap_or_default()
        };
        ConferenceDescription {
            display_text: self.text_of(e, "display-text"),
            subject: self.text_of(e, "subject"),
            free_text: self.text_of(e, "free-text"),
            keywords: self.text_of(e, "keywords"),
            conf_uris: uris("conf-uris"),
            service_uris: uris("service-uris"),
            maximum_user_count: self
                .token_of(e, "maximum-user-count")
                .and_then(|t| t.parse().ok()),
        }
    }

    fn uri_entries(&self, list: &Element) -> Vec<UriEntry> {
        self.children(list)
            .filter(|c| c.name == "entry")
            .filter_map(|entry| {
                Some(UriEntry {
                    uri: self.token_of(entry, "uri")?,
                    display_text: self.text_of(entry, "display-text"),
                    purpose: self.token_of(entry, "purpose"),
                })
            })
            .collect()
    }

    fn conference_state(&self, e: &Element) -> ConferenceState {
        let boolean = |name: &str| match self.token_of(e, name).as_deref() {
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            _ => None,
        };
        ConferenceState {
            user_count: self.token_of(e, "user-count").and_then(|t| t.parse().ok()),
            active: boolean("active"),
            locked: boolean("locked"),
        }
    }

    fn users(&self, e: &Element) -> Result<Users, ConferenceInfoError> {
        let state = state_of(e, "users")?;
        let mut users: Vec<User> = Vec::new();
        if state != ElementState::Deleted {
            for child in self.children(e).filter(|c| c.name == "user") {
                if users.len() == self.limits.max_users {
                    return Err(ConferenceInfoError::TooMany {
                        element: "user",
                        limit: self.limits.max_users,
                    });
                }
                let user = self.user(child)?;
                if users.iter().any(|u| u.entity == user.entity) {
                    return Err(ConferenceInfoError::DuplicateKey { element: "user" });
                }
                users.push(user);
            }
        }
        Ok(Users { state, users })
    }

    fn user(&self, e: &Element) -> Result<User, ConferenceInfoError> {
        let mut user = User {
            entity: required(e, "user", "entity")?,
            state: state_of(e, "user")?,
            ..User::default()
        };
        if user.state == ElementState::Deleted {
            return Ok(user);
        }
        user.nickname = e.attr(&format!("{{{NS_XCON}}}nickname")).map(str::to_owned);
        for child in self.children(e) {
            match child.name.as_str() {
                "display-text" => user.display_text = Some(child.text()),
                "associated-aors" => user.associated_aors = Some(self.uri_entries(child)),
                "roles" => {
                    user.roles = Some(
                        self.children(child)
                            .filter(|r| r.name == "entry")
                            .map(|r| r.text().trim().to_owned())
                            .collect(),
                    )
                }
                "languages" => user.languages = Some(child.text().trim().to_owned()),
                "endpoint" => {
                    if user.endpoints.len() == self.limits.max_endpoints_per_user {
                        return Err(ConferenceInfoError::TooMany {
                            element: "endpoint",
                            limit: self.limits.max_endpoints_per_user,
                        });
                    }
                    let endpoint = self.endpoint(child)?;
                    if user.endpoints.iter().any(|p| p.entity == endpoint.entity) {
                        return Err(ConferenceInfoError::DuplicateKey {
                            element: "endpoint",
                        });
                    }
                    user.endpoints.push(endpoint);
                }
                _ => {}
            }
        }
        Ok(user)
    }

    fn endpoint(&self, e: &Element) -> Result<Endpoint, ConferenceInfoError> {
        let mut endpoint = Endpoint {
            entity: required(e, "endpoint", "entity")?,
            state: state_of(e, "endpoint")?,
            ..Endpoint::default()
        };
        if endpoint.state == ElementState::Deleted {
            return Ok(endpoint);
        }
        for child in self.children(e) {
            match child.name.as_str() {
                "display-text" => endpoint.display_text = Some(child.text()),
                "status" => endpoint.status = EndpointStatus::parse(&child.text()),
                "joining-method" => endpoint.joining_method = JoiningMethod::parse(&child.text()),
                "joining-info" => {
                    endpoint.joining_info = Some(ExecutionInfo {
                        when: self.token_of(child, "when"),
                        reason: self.text_of(child, "reason"),
                        by: self.token_of(child, "by"),
                    })
                }
                "disconnection-method" => {
                    endpoint.disconnection_method = DisconnectionMethod::parse(&child.text())
                }
                "media" => {
                    let media = Media {
                        id: required(child, "media", "id")?,
                        display_text: self.text_of(child, "display-text"),
                        media_type: self.token_of(child, "type"),
                        label: self.token_of(child, "label"),
                        status: self.token_of(child, "status"),
                    };
                    if endpoint.media.iter().any(|m| m.id == media.id) {
                        return Err(ConferenceInfoError::DuplicateKey { element: "media" });
                    }
                    // Bounded by the document's element limit.
                    endpoint.media.push(media);
                }
                _ => {}
            }
        }
        Ok(endpoint)
    }
}

fn required(
    e: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<String, ConferenceInfoError> {
    e.attr(attribute)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or(ConferenceInfoError::MissingAttribute { element, attribute })
}

fn state_of(e: &Element, element: &'static str) -> Result<ElementState, ConferenceInfoError> {
    match e.attr("state") {
        None => Ok(ElementState::Full),
        Some(v) => ElementState::parse(v).ok_or(ConferenceInfoError::InvalidAttribute {
            element,
            attribute: "state",
        }),
    }
}

#[cfg(test)]
#[path = "conference_info_tests.rs"]
mod tests;
