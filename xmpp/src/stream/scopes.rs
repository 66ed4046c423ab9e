//! XML Names 1.0 §5–§6: which namespace a prefix means where an element
//! starts, kept by the stream parser itself.
//!
//! quick-xml's `NsReader` did this before issue 24's cut: it parsed every
//! start tag's attributes once for `xmlns` declarations, then the parser
//! parsed them again, and it resolved every event, text and end tags
//! included. Here a start tag's attributes are read for declarations only
//! when the tag holds the letters `xmlns` at all (a stanza Prosody
//! forwards declares nothing: the stream's default namespace covers it),
//! and only start tags are resolved.
//!
//! The rules are quick-xml 0.42's, so that a stream reads exactly as it did
//! (`tests::scopes_resolve_as_ns_reader_did` holds the two equal): the `xml`
//! prefix may only be declared with its own namespace name and `xmlns` not
//! at all (§3), no other prefix may take either name, at most
//! [`DEFAULT_MAX_NAMESPACE_BINDINGS`] declarations are in scope at once,
//! and `xmlns:p=""` leaves `p` unknown.

use std::borrow::Cow;

use quick_xml::events::BytesStart;
use quick_xml::name::{
    DEFAULT_MAX_NAMESPACE_BINDINGS, Namespace, PrefixDeclaration, QName, ResolveResult,
};

use crate::stanza::element::known_namespace;

/// XML Names §3: the namespace name the `xml` prefix is bound to.
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";
/// XML Names §3: the namespace name of the `xmlns` prefix.
const NS_XMLNS: &str = "http://www.w3.org/2000/xmlns/";

/// A declaration that XML Names forbids, or one too many in scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadDeclaration;

/// The declarations in scope, innermost last.
#[derive(Debug, Default)]
pub(crate) struct Scopes {
    /// Each declaration's prefix and namespace name, back to back, in the
    /// order of `declared`: the memory stays once a stream has warmed up.
    text: String,
    declared: Vec<Declared>,
    /// Start tags open, the one being read included.
    depth: usize,
}

#[derive(Debug)]
struct Declared {
    /// Where its prefix starts in `text`; the namespace name follows it.
    at: usize,
    /// 0 for the default namespace (`xmlns="..."`).
    prefix_len: usize,
    /// 0 when the declaration undoes one (`xmlns=""`, `xmlns:p=""`).
    ns_len: usize,
    /// The `depth` of the element that declared it.
    depth: usize,
    /// The namespace name as the parser keeps it when it is one of the
    /// stream's own, found once here rather than at every element.
    known: Option<&'static str>,
}

impl Declared {
    fn prefix<'t>(&self, text: &'t str) -> &'t str {
        &text[self.at..self.at + self.prefix_len]
    }

    fn namespace<'t>(&self, text: &'t str) -> ResolveResult<'t> {
        if self.ns_len == 0 {
            return ResolveResult::Unbound;
        }
        let at = self.at + self.prefix_len;
        ResolveResult::Bound(Namespace(&text[at..at + self.ns_len]))
    }
}

impl Scopes {
    /// A start tag (or an empty element) opens: its declarations come into
    /// scope. An attribute quick-xml cannot read ends the search for them,
    /// as it did in `NsReader`; the parser reports it when it reads the
    /// attributes itself.
    pub(crate) fn open(&mut self, start: &BytesStart<'_>) -> Result<(), BadDeclaration> {
        self.depth += 1;
        if !start.attributes_raw().contains("xmlns") {
            return Ok(());
        }
        for a in start.attributes().with_checks(false) {
            let Ok(a) = a else { break };
            if let Some(prefix) = a.key.as_namespace_binding() {
                self.declare(prefix, &a.value)?;
            }
        }
        Ok(())
    }

    fn declare(&mut self, prefix: PrefixDeclaration<'_>, ns: &str) -> Result<(), BadDeclaration> {
        let prefix = match prefix {
            PrefixDeclaration::Default => "",
            // Bound by definition: declaring it again with its own name
            // changes nothing, with any other is an error.
            PrefixDeclaration::Named("xml") if ns == NS_XML => return Ok(()),
            PrefixDeclaration::Named("xml" | "xmlns") => return Err(BadDeclaration),
            PrefixDeclaration::Named(_) if ns == NS_XML || ns == NS_XMLNS => {
                return Err(BadDeclaration);
            }
            PrefixDeclaration::Named(p) => p,
        };
        if self.declared.len() >= DEFAULT_MAX_NAMESPACE_BINDINGS {
            return Err(BadDeclaration);
        }
        let at = self.text.len();
        self.text.push_str(prefix);
        self.text.push_str(ns);
        // A name with a reference is unescaped where an element uses it.
        let known = match known_namespace(ns) {
            Cow::Borrowed(known) if !ns.is_empty() && !ns.contains('&') => Some(known),
            _ => None,
        };
        self.declared.push(Declared {
            at,
            prefix_len: prefix.len(),
            ns_len: ns.len(),
            depth: self.depth,
            known,
        });
        Ok(())
    }

    /// The innermost element open closes (its end tag, or the end of an
    /// empty element): its declarations go out of scope.
    pub(crate) fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        while let Some(d) = self.declared.last() {
            if d.depth <= self.depth {
                break;
            }
            self.text.truncate(d.at);
            self.declared.pop();
        }
    }

    /// The namespace of an element named `name`, where it starts, as
    /// quick-xml's `NsReader` gave it (the test that holds them equal).
    #[cfg(test)]
    pub(crate) fn resolve_element(&self, name: QName<'_>) -> ResolveResult<'_> {
        match self.resolve_known(name) {
            Resolved::Known(ns) => ResolveResult::Bound(Namespace(ns)),
            Resolved::Other(r) => r,
        }
    }

    /// [`resolve_element`](Self::resolve_element), with the stream's own
    /// namespaces told apart as [`known_namespace`] gives them.
    pub(crate) fn resolve_known(&self, name: QName<'_>) -> Resolved<'_> {
        let mut inner_first = self.declared.iter().rev();
        let declared = match name.prefix() {
            None => match inner_first.find(|d| d.prefix_len == 0) {
                Some(d) => d,
                None => return Resolved::Other(ResolveResult::Unbound),
            },
            Some(p) => {
                let p: &str = p.into_inner();
                match inner_first.find(|d| d.prefix_len != 0 && d.prefix(&self.text) == p) {
                    Some(d) if d.ns_len != 0 => d,
                    Some(_) => return Resolved::Other(ResolveResult::Unknown(p.to_owned())),
                    None if p == "xml" => {
                        return Resolved::Other(ResolveResult::Bound(Namespace(NS_XML)));
                    }
                    None if p == "xmlns" => {
                        return Resolved::Other(ResolveResult::Bound(Namespace(NS_XMLNS)));
                    }
                    None => return Resolved::Other(ResolveResult::Unknown(p.to_owned())),
                }
            }
        };
        match declared.known {
            Some(ns) => Resolved::Known(ns),
            None => Resolved::Other(declared.namespace(&self.text)),
        }
    }
}

/// An element's namespace: one of the stream's own, or any other.
pub(crate) enum Resolved<'t> {
    /// As [`known_namespace`] gives it.
    Known(&'static str),
    /// As quick-xml's `NsReader` gave it.
    Other(ResolveResult<'t>),
}
