//! RFC 7247 §6: mapping addresses between SIP and XMPP.
//!
//! The rules of design §2: a SIP user of the gateway's SIP domain is a JID at
//! the component domain; telephone numbers (RFC 3966 `tel:`, `user=phone`)
//! keep their global number as the localpart; users of other SIP domains are
//! XEP-0106 escaped (`alice\40other.net@component`) where policy allows; XMPP
//! users keep their own domain on the SIP side (`sip:juliet@xmpp.example`).
//! GRUU `gr` parameters and resourceparts map to each other (RFC 7247 §6.3).

use std::borrow::Cow;

use bytesstr::BytesStr;
use ezk_sip_types::host::{Host, HostPort};
use ezk_sip_types::uri::SipUri;
use ezk_sip_types::uri::params::Param;

use crate::failure::MappingError;
use crate::uri::{gruu, is_visual_separator, percent_decode, sip_user};

use crate::jid::escaped_localpart;
pub use crate::jid::{Jid, escape_localpart, unescape_localpart};
pub use crate::uri::{MailboxUri, SipAddress, TelUri, gr_value};

/// Whether SIP users of other domains may be reached through the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ForeignDomainPolicy {
    /// Map `sip:alice@other.net` to `alice\40other.net@<component_domain>`.
    Allow,
    /// Refuse addresses outside the gateway's SIP domain.
    #[default]
    Refuse,
}

/// The address rules of design §2 for one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressMapper {
    /// The component's JID domain (`[xmpp] component_domain`).
    pub component_domain: String,
    /// The SIP domain whose users XMPP sees at the component domain.
    pub sip_domain: String,
    /// Whether users of other SIP domains are mapped.
    pub foreign_domains: ForeignDomainPolicy,
}

impl AddressMapper {
    /// A SIP user (the From of an incoming request) as a JID at the component
    /// domain (design §2; RFC 7247 §6.4 for the localpart, §6.3 for `gr`).
    pub fn sip_user_to_jid(&self, uri: &SipAddress) -> Result<Jid, MappingError> {
        let (user, host, resource) = match uri {
            SipAddress::Sip(u) | SipAddress::Sips(u) => {
                let user = sip_user(u).ok_or(MappingError::AddressIncomplete)?;
                let user = if is_user_phone(u) {
                    Cow::Owned(telephone_localpart(&user)?)
                } else {
                    user
                };
                (user, host_text(&u.host_port.host), gruu(u))
            }
            SipAddress::Tel(t) => {
                let number = telephone_localpart(&t.number)?;
                return Jid::new(Some(&number), &self.component_domain, None);
            }
            SipAddress::Im(m) | SipAddress::Pres(m) => (
                Cow::Borrowed(m.local.as_str()),
                Cow::Borrowed(m.domain.as_str()),
                None,
            ),
        };
        if user.is_empty() {
            return Err(MappingError::AddressIncomplete);
        }
        let raw_local = if same_domain(&host, &self.sip_domain) && !user.contains('@') {
            user
        } else {
            if !same_domain(&host, &self.sip_domain)
                && self.foreign_domains == ForeignDomainPolicy::Refuse
            {
                return Err(MappingError::ForeignDomainRefused);
            }
            // Design §2: `alice@other.net` rides in the localpart as `alice\40other.net`.
            // A user of our own domain with an '@' in it keeps its domain too, so
            // `jid_to_sip_user` can split at the last '@' unambiguously.
            Cow::Owned(format!("{user}@{}", host.to_ascii_lowercase()))
        };
        Jid::new(
            Some(&escaped_localpart(&raw_local)),
            &self.component_domain,
            resource.as_deref(),
        )
    }

    /// A Request-URI naming an XMPP user (RFC 7247 §6.4): `sip:juliet@xmpp.example`
    /// is `juliet@xmpp.example`, and a `gr` parameter is the resourcepart.
    pub fn sip_target_to_jid(&self, uri: &SipAddress) -> Result<Jid, MappingError> {
        let (user, host, resource) = match uri {
            SipAddress::Sip(u) | SipAddress::Sips(u) => (
                sip_user(u).ok_or(MappingError::AddressIncomplete)?,
                host_text(&u.host_port.host),
                gruu(u),
            ),
            SipAddress::Im(m) | SipAddress::Pres(m) => (
                Cow::Borrowed(m.local.as_str()),
                Cow::Borrowed(m.domain.as_str()),
                None,
            ),
            // A telephone number names no XMPP domain.
            SipAddress::Tel(_) => return Err(MappingError::UnsupportedScheme { scheme: "tel" }),
        };
        if user.is_empty() {
            return Err(MappingError::AddressIncomplete);
        }
        if same_domain(&host, &self.component_domain) || same_domain(&host, &self.sip_domain) {
            return Err(MappingError::TargetNotXmpp);
        }
        // RFC 7247 §6.4 steps 3–5: percent-decoded already; escape what XMPP
        // forbids ('&' → \26, '\'' → \27, '/' → \2f, and the rest of XEP-0106).
        Jid::new(Some(&escaped_localpart(&user)), &host, resource.as_deref())
    }

    /// An XMPP user as a SIP URI (RFC 7247 §6.5; RFC 7572 §4: the resource is
    /// the GRUU): `juliet@xmpp.example/res` is `sip:juliet@xmpp.example;gr=res`.
    pub fn xmpp_user_to_sip(&self, jid: &Jid) -> Result<SipAddress, MappingError> {
        let local = jid.local().ok_or(MappingError::AddressIncomplete)?;
        let user = unescape_localpart(local);
        Ok(SipAddress::Sip(sip_uri_gr(
            &user,
            jid.domain(),
            jid.resource(),
        )?))
    }

    /// A JID at the component domain as the SIP user it stands for (design
    /// §2): `bob@comp` → `sip:bob@<sip_domain>`, `alice\40other.net@comp` →
    /// `sip:alice@other.net`, `+1555@comp` → `sip:+1555@<sip_domain>;user=phone`.
    /// A resourcepart becomes the `gr` parameter (RFC 7247 §6.3).
    pub fn jid_to_sip_user(&self, jid: &Jid) -> Result<SipAddress, MappingError> {
        if !same_domain(jid.domain(), &self.component_domain) {
            return Err(MappingError::NotOurDomain);
        }
        let local = jid.local().ok_or(MappingError::AddressIncomplete)?;
        let raw = unescape_localpart(local);
        let (user, host) = match raw.rsplit_once('@') {
            Some((user, host)) => {
                if !same_domain(host, &self.sip_domain)
                    && self.foreign_domains == ForeignDomainPolicy::Refuse
                {
                    return Err(MappingError::ForeignDomainRefused);
                }
                (user, host)
            }
            None => (&*raw, self.sip_domain.as_str()),
        };
        if user.is_empty() {
            return Err(MappingError::AddressIncomplete);
        }
        let mut uri = sip_uri(user, host)?;
        if is_global_number(user) {
            // RFC 3261 §19.1.1: a telephone number in a SIP URI says user=phone.
            uri.uri_params.push(Param::value("user", "phone"));
        }
        if let Some(resource) = jid.resource() {
            uri.uri_params.push(Param::value("gr", resource.to_owned()));
        }
        Ok(SipAddress::Sip(uri))
    }

    /// The new address of an XMPP `<gone/>` or `<redirect/>` as the SIP URI
    /// for a 301/302 Contact (RFC 7247 §7.1 note 3, mapped per §6). RFC 6120
    /// §8.3.3.5 and §8.3.3.14: the character data "MUST be a Uniform Resource
    /// Identifier \[URI\] or Internationalized Resource Identifier \[IRI\] ...,
    /// typically an XMPP IRI"; servers also send a plain JID. So:
    ///
    /// - `sip:`/`sips:` URIs are taken as they are;
    /// - an `xmpp:` IRI (`xmpp:JID`, `xmpp://account/JID`, with `?query` and
    ///   `#fragment` dropped and percent-encoding undone) or a plain JID is
    ///   mapped: a JID at the component domain is the SIP user it stands for
    ///   ([`AddressMapper::jid_to_sip_user`]), any other an XMPP user
    ///   ([`AddressMapper::xmpp_user_to_sip`]), the resource as `gr`.
    ///
    /// Anything else (another scheme, a domain without user) is an error: it
    /// cannot be a SIP Contact.
    pub(crate) fn new_address_to_sip(&self, address: &str) -> Result<SipAddress, MappingError> {
        let address = address.trim();
        let scheme = address
            .split_once(':')
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        let jid = match scheme.as_deref() {
            Some("sip" | "sips") => return SipAddress::parse(address),
            Some("xmpp") => Jid::parse(&xmpp_iri_jid(&address[5..])?)?,
            _ => Jid::parse(address)?,
        };
        if same_domain(jid.domain(), &self.component_domain) {
            self.jid_to_sip_user(&jid)
        } else {
            self.xmpp_user_to_sip(&jid)
        }
    }
}

/// The JID an XMPP IRI names, given what follows `xmpp:`: an optional
/// `//authority` (the account to act as) before it, `?query` and `#fragment`
/// after it, percent-encoding undone.
fn xmpp_iri_jid(rest: &str) -> Result<String, MappingError> {
    let bad = MappingError::MalformedUri {
        reason: "not an XMPP IRI",
    };
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => authority_and_path
            .split_once('/')
            .map(|(_, path)| path)
            .ok_or(bad.clone())?,
        None => rest,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    if path.is_empty() {
        return Err(bad);
    }
    percent_decode(path).ok_or(bad)
}

/// `+` followed by digits only: a global E.164 number (RFC 3966 §5.1.4).
fn is_global_number(user: &str) -> bool {
    user.strip_prefix('+')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// RFC 3966 §5.1.1: visual separators carry no meaning, so the localpart is
/// the telephone-subscriber without them and without its parameters.
fn telephone_localpart(subscriber: &str) -> Result<String, MappingError> {
    let number = subscriber.split(';').next().unwrap_or_default();
    let digits: String = number
        .chars()
        .filter(|c| !is_visual_separator(*c))
        .collect();
    let body = digits.strip_prefix('+').unwrap_or(&digits);
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, '*' | '#'))
    {
        return Err(MappingError::MalformedUri {
            reason: "telephone number has characters other than digits",
        });
    }
    Ok(digits)
}

/// RFC 3261 §19.1.1: `user=phone` marks the user part as a telephone-subscriber.
fn is_user_phone(uri: &SipUri) -> bool {
    uri.uri_params
        .get_val("user")
        .is_some_and(|v| v.eq_ignore_ascii_case("phone"))
}

/// Compare two domain names caselessly, ignoring a final dot.
fn same_domain(a: &str, b: &str) -> bool {
    let (a, b) = (
        a.strip_suffix('.').unwrap_or(a),
        b.strip_suffix('.').unwrap_or(b),
    );
    // Spelled alike (the usual case) is one comparison (issue 24).
    a == b || a.eq_ignore_ascii_case(b)
}

/// A URI's host as text: a name as it is, without formatting (issue 24);
/// an IP address as `Display` writes it.
fn host_text(host: &Host) -> Cow<'_, str> {
    match host {
        Host::Name(name) => Cow::Borrowed(name.as_str()),
        other => Cow::Owned(other.to_string()),
    }
}

/// A `sip:user@host` URI; the host must be a hostname or IP literal.
fn sip_uri(user: &str, host: &str) -> Result<SipUri, MappingError> {
    sip_uri_gr(user, host, None)
}

/// [`sip_uri`] with a `gr` parameter of `gruu` when there is one (RFC 7572
/// §4: an XMPP resource as the GRUU).
fn sip_uri_gr(user: &str, host: &str, gruu: Option<&str>) -> Result<SipUri, MappingError> {
    if !host.is_ascii() {
        // RFC 7247 §6.1: IDN mapping is out of scope; SIP hosts are ASCII.
        return Err(MappingError::MalformedUri {
            reason: "internationalized domain cannot be a SIP host",
        });
    }
    // The user, the host name and the GRUU are slices of one buffer: one
    // copy, and a clone of the URI (the Request-URI is the To) takes
    // reference counts where each copy had to be made shared first (issue
    // 24).
    let gruu_len = gruu.map_or(0, str::len);
    let mut text = String::with_capacity(user.len() + host.len() + gruu_len);
    text.push_str(user);
    text.push_str(host);
    text.push_str(gruu.unwrap_or_default());
    let text = BytesStr::from(text);
    let (user, rest) = text.as_str().split_at(user.len());
    let (host, gruu_text) = rest.split_at(host.len());
    let host =
        parley_sip::wire::uri::parse_host_in(&text, host).ok_or(MappingError::MalformedUri {
            reason: "domain is not a SIP host",
        })?;
    let mut uri = SipUri::new(HostPort { host, port: None });
    uri.set_user(text.slice_ref(user));
    if gruu.is_some() {
        uri.uri_params
            .push(Param::value("gr", text.slice_ref(gruu_text)));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn mapper(policy: ForeignDomainPolicy) -> AddressMapper {
        AddressMapper {
            component_domain: "sip.example.net".into(),
            sip_domain: "sip.example.net".into(),
            foreign_domains: policy,
        }
    }

    fn gw() -> AddressMapper {
        AddressMapper {
            component_domain: "gw.example.org".into(),
            sip_domain: "sip.example.net".into(),
            foreign_domains: ForeignDomainPolicy::Allow,
        }
    }

    fn sip(s: &str) -> SipAddress {
        SipAddress::parse(s).unwrap()
    }

    /// The URI built from one buffer is the URI built from two copies, as
    /// it was: the same parts (ezk's `Debug` shows each) and the same text.
    #[test]
    fn a_uri_from_one_buffer_is_the_uri_from_two_copies() {
        let hosts = [
            "sip.example.net",
            "EXAMPLE.com",
            "192.0.2.7",
            "[2001:db8::1]",
            "a-b.c1.example",
        ];
        let users = ["juliet", "", "j%20x", "+15551234", "o'hara", "a;b"];
        for host in hosts {
            for user in users {
                let mut before = SipUri::new(HostPort {
                    host: parley_sip::wire::uri::parse_host(host).unwrap(),
                    port: None,
                });
                before.set_user(user.to_owned().into());
                let after = sip_uri(user, host).unwrap();
                assert_eq!(format!("{after:?}"), format!("{before:?}"), "{user}@{host}");
                assert_eq!(
                    SipAddress::from(after).to_string(),
                    SipAddress::from(before).to_string(),
                    "{user}@{host}"
                );
            }
        }
        for gruu in ["res", "", "a b/c"] {
            let mut before = SipUri::new(HostPort {
                host: parley_sip::wire::uri::parse_host("xmpp.example").unwrap(),
                port: None,
            });
            before.set_user("juliet".to_owned().into());
            before.uri_params.push(Param::value("gr", gruu.to_owned()));
            let after = sip_uri_gr("juliet", "xmpp.example", Some(gruu)).unwrap();
            assert_eq!(format!("{after:?}"), format!("{before:?}"), "gr={gruu}");
            assert_eq!(
                SipAddress::from(after).to_string(),
                SipAddress::from(before).to_string(),
                "gr={gruu}"
            );
        }
        assert!(sip_uri("juliet", "not a host").is_err());
        assert!(sip_uri("juliet", "bücher.example").is_err());
    }

    fn jid(s: &str) -> Jid {
        Jid::parse(s).unwrap()
    }

    /// Design §2: "A SIP user sip:bob@<sip.domain> is the JID bob@<component_domain>".
    #[test]
    fn same_domain_sip_user_is_jid_at_component_domain() {
        let m = gw();
        assert_eq!(
            m.sip_user_to_jid(&sip("sip:bob@sip.example.net")).unwrap(),
            jid("bob@gw.example.org")
        );
        assert_eq!(
            m.jid_to_sip_user(&jid("bob@gw.example.org"))
                .unwrap()
                .to_string(),
            "sip:bob@sip.example.net"
        );
        // Domain comparison is caseless (RFC 3261 §19.1.4).
        assert_eq!(
            m.sip_user_to_jid(&sip("sips:Bob@SIP.Example.NET;transport=tls"))
                .unwrap(),
            jid("bob@gw.example.org")
        );
    }

    /// Design §2: "sip:+15551234@domain;user=phone, tel:+15551234 map to +15551234@<component_domain>".
    #[test]
    fn telephone_numbers_map_to_their_global_number() {
        let m = gw();
        for uri in [
            "sip:+15551234@sip.example.net;user=phone",
            "sip:+1-555-1234;npdi@sip.example.net;user=phone",
            "tel:+15551234",
            "tel:+1-555-12.34;ext=7",
        ] {
            assert_eq!(
                m.sip_user_to_jid(&sip(uri)).unwrap(),
                jid("+15551234@gw.example.org"),
                "{uri}"
            );
        }
        assert_eq!(
            m.jid_to_sip_user(&jid("+15551234@gw.example.org"))
                .unwrap()
                .to_string(),
            "sip:+15551234@sip.example.net;user=phone"
        );
    }

    /// Design §2: "sip:alice@other.net is alice\40other.net@<component_domain> … where policy allows".
    #[test]
    fn foreign_sip_user_is_escaped_when_policy_allows() {
        let m = gw();
        let j = m.sip_user_to_jid(&sip("sip:alice@Other.net")).unwrap();
        assert_eq!(j.to_string(), "alice\\40other.net@gw.example.org");
        assert_eq!(
            m.jid_to_sip_user(&j).unwrap().to_string(),
            "sip:alice@other.net"
        );
    }

    #[test]
    fn foreign_sip_user_is_refused_by_policy() {
        let m = mapper(ForeignDomainPolicy::Refuse);
        assert_eq!(
            m.sip_user_to_jid(&sip("sip:alice@other.net")),
            Err(MappingError::ForeignDomainRefused)
        );
        assert_eq!(
            m.jid_to_sip_user(&jid("alice\\40other.net@sip.example.net")),
            Err(MappingError::ForeignDomainRefused)
        );
        assert_eq!(MappingError::ForeignDomainRefused.sip_status().code, 403);
    }

    /// RFC 7247 §7.1 note 3 with RFC 6120 §8.3.3.5's example: the new address
    /// of <gone/> becomes a SIP URI per §6.5; a JID at the component domain
    /// is the SIP user it stands for.
    #[test]
    fn new_address_of_gone_or_redirect_maps_to_a_sip_uri() {
        let m = gw();
        for (address, expected) in [
            (
                "\n            xmpp:romeo@afterlife.example.net\n          ",
                "sip:romeo@afterlife.example.net",
            ),
            (
                "xmpp:juliet@xmpp.example/desk",
                "sip:juliet@xmpp.example;gr=desk",
            ),
            ("xmpp:m%5C26m@xmpp.example?message", "sip:m&m@xmpp.example"),
            (
                "xmpp://guest@example.com/support@example.com#x",
                "sip:support@example.com",
            ),
            ("juliet@xmpp.example", "sip:juliet@xmpp.example"),
            ("bob@gw.example.org", "sip:bob@sip.example.net"),
            (
                "XMPP:alice\\40other.net@gw.example.org/phone",
                "sip:alice@other.net;gr=phone",
            ),
            (
                "sip:bob@elsewhere.example;transport=tcp",
                "sip:bob@elsewhere.example;transport=tcp",
            ),
        ] {
            assert_eq!(
                m.new_address_to_sip(address).unwrap().to_string(),
                expected,
                "{address:?}"
            );
        }
        for unusable in [
            "",
            "xmpp:",
            "xmpp://guest@example.com",
            "xmpp:example.com",
            "example.com",
            "mailto:romeo@example.net",
            "https://example.net/romeo",
            "xmpp:bad%ZZ@example.com",
        ] {
            assert!(m.new_address_to_sip(unusable).is_err(), "{unusable:?}");
        }
    }

    /// RFC 7247 §6.4 examples: "sip:f%C3%BC@sip.example → f&#xFC;@sip.example",
    /// "sip:o'malley@sip.example → o\27malley@sip.example", "sip:foo@sip.example;gr=bar → foo@sip.example/bar".
    #[test]
    fn rfc7247_6_4_examples() {
        let m = gw();
        for (uri, expected) in [
            ("sip:f%C3%BC@sip.example", "fü@sip.example"),
            ("sip:o'malley@sip.example", "o\\27malley@sip.example"),
            ("sip:foo@sip.example;gr=bar", "foo@sip.example/bar"),
        ] {
            assert_eq!(
                m.sip_target_to_jid(&sip(uri)).unwrap().to_string(),
                expected,
                "{uri}"
            );
        }
    }

    /// RFC 7247 §6.5 examples: "m\26m@xmpp.example → sip:m&m@xmpp.example",
    /// "tsch&#xFC;ss@xmpp.example → sip:tsch%C3%BCss@xmpp.example",
    /// "baz@xmpp.example/qux → sip:baz@xmpp.example;gr=qux".
    #[test]
    fn rfc7247_6_5_examples() {
        let m = gw();
        for (j, expected) in [
            ("m\\26m@xmpp.example", "sip:m&m@xmpp.example"),
            ("tschüss@xmpp.example", "sip:tsch%C3%BCss@xmpp.example"),
            ("baz@xmpp.example/qux", "sip:baz@xmpp.example;gr=qux"),
        ] {
            assert_eq!(
                m.xmpp_user_to_sip(&jid(j)).unwrap().to_string(),
                expected,
                "{j}"
            );
        }
    }

    /// RFC 7572 §4 Example 2: "From: <sip:juliet@example.com;gr=yn0cl4bnw0yr3vym>".
    #[test]
    fn xmpp_full_jid_resource_becomes_gruu() {
        let uri = gw()
            .xmpp_user_to_sip(&jid("juliet@example.com/yn0cl4bnw0yr3vym"))
            .unwrap();
        assert_eq!(
            uri.to_string(),
            "sip:juliet@example.com;gr=yn0cl4bnw0yr3vym"
        );
        assert_eq!(
            gw().sip_target_to_jid(&uri).unwrap(),
            jid("juliet@example.com/yn0cl4bnw0yr3vym")
        );
    }

    /// RFC 7572 §5 note 1: a known GRUU of the SIP sender is the resourcepart.
    #[test]
    fn sip_gruu_becomes_resource_of_the_mapped_jid() {
        let m = gw();
        let j = m
            .sip_user_to_jid(&sip("sip:romeo@sip.example.net;gr=dr4hcr0st3lup4c"))
            .unwrap();
        assert_eq!(j.to_string(), "romeo@gw.example.org/dr4hcr0st3lup4c");
        assert_eq!(
            m.jid_to_sip_user(&j).unwrap().to_string(),
            "sip:romeo@sip.example.net;gr=dr4hcr0st3lup4c"
        );
    }

    /// RFC 7247 §6.4: a pres: URI maps like a sip: one.
    #[test]
    fn pres_uri_target_maps_to_jid() {
        let pres = sip("pres:romeo@example.net");
        assert_eq!(
            gw().sip_target_to_jid(&pres).unwrap(),
            jid("romeo@example.net")
        );
    }

    /// Design §2: anything unmappable is refused, never passed through raw.
    #[test]
    fn unmappable_addresses_are_refused_with_typed_errors() {
        let m = gw();
        assert_eq!(
            m.sip_user_to_jid(&sip("sip:sip.example.net")),
            Err(MappingError::AddressIncomplete)
        );
        assert_eq!(
            m.jid_to_sip_user(&jid("bob@elsewhere.example")),
            Err(MappingError::NotOurDomain)
        );
        assert_eq!(
            m.jid_to_sip_user(&jid("gw.example.org")),
            Err(MappingError::AddressIncomplete)
        );
        assert!(matches!(
            m.sip_target_to_jid(&sip("tel:+15551234")),
            Err(MappingError::UnsupportedScheme { .. })
        ));
        assert_eq!(
            m.sip_target_to_jid(&sip("sip:bob@sip.example.net")),
            Err(MappingError::TargetNotXmpp),
            "a SIP user of our own domain is no XMPP user"
        );
        assert_eq!(
            m.sip_target_to_jid(&sip("sip:bob@GW.example.org")),
            Err(MappingError::TargetNotXmpp),
            "the component domain would loop back to the gateway"
        );
        assert!(SipAddress::parse("mailto:a@b").is_err());
        assert!(SipAddress::parse("sip:").is_err());
        assert!(
            SipAddress::parse("tel:555-1234").is_err(),
            "local number without phone-context"
        );
        assert!(m.xmpp_user_to_sip(&jid("a@bücher.example")).is_err());
    }

    #[test]
    fn user_with_at_sign_in_own_domain_round_trips() {
        let m = gw();
        let j = m
            .sip_user_to_jid(&sip("sip:a%40b@sip.example.net"))
            .unwrap();
        assert_eq!(j.to_string(), "a\\40b\\40sip.example.net@gw.example.org");
        assert_eq!(
            m.jid_to_sip_user(&j).unwrap().to_string(),
            "sip:a%40b@sip.example.net"
        );
    }
}
