//! RFC 4575 §5: writing a `<conference-info>` document, full or partial,
//! for the direction where Parley is the focus (RFC 7702 §6.2: MUC room
//! presence → conference-info in a NOTIFY).
//!
//! Every element is written in the conference-info namespace (§4.2), with
//! `xmlns:xcon` (RFC 6501) only when a user carries a nickname. `state` is
//! written on every element that may carry it (§4.4), so a partial document
//! says what each part is.

use crate::groupchat::conference_info::{
    ConferenceDescription, ConferenceInfo, ConferenceState, ElementState, Endpoint, Media,
    UriEntry, User,
};
use crate::xml::{escape_attr, escape_text};

impl ConferenceInfo {
    /// Serialize as an `application/conference-info+xml` document.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(1024);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str("<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\"");
        let nicknames = self
            .users
            .iter()
            .flat_map(|u| &u.users)
            .any(|u| u.nickname.is_some());
        if nicknames {
            out.push_str(" xmlns:xcon=\"urn:ietf:params:xml:ns:xcon-conference-info\"");
        }
        out.push_str(" entity=\"");
        escape_attr(&self.entity, &mut out);
        out.push_str("\" state=\"");
        out.push_str(self.state.as_str());
        out.push_str("\" version=\"");
        out.push_str(&self.version.to_string());
        out.push_str("\">\n");
        if self.state != ElementState::Deleted {
            if let Some(d) = &self.description {
                write_description(d, &mut out);
            }
            if let Some(s) = &self.conference_state {
                write_conference_state(s, &mut out);
            }
            if let Some(users) = &self.users {
                out.push_str(" <users state=\"");
                out.push_str(users.state.as_str());
                out.push_str("\">\n");
                if users.state != ElementState::Deleted {
                    for u in &users.users {
                        write_user(u, &mut out);
                    }
                }
                out.push_str(" </users>\n");
            }
        }
        out.push_str("</conference-info>\n");
        out
    }
}

fn write_text(indent: &str, tag: &str, value: Option<&str>, out: &mut String) {
    if let Some(v) = value {
        out.push_str(indent);
        out.push('<');
        out.push_str(tag);
        out.push('>');
        escape_text(v, out);
        out.push_str("</");
        out.push_str(tag);
        out.push_str(">\n");
    }
}

fn write_description(d: &ConferenceDescription, out: &mut String) {
    out.push_str(" <conference-description>\n");
    write_text("  ", "display-text", d.display_text.as_deref(), out);
    write_text("  ", "subject", d.subject.as_deref(), out);
    write_text("  ", "free-text", d.free_text.as_deref(), out);
    write_text("  ", "keywords", d.keywords.as_deref(), out);
    write_uris("  ", "conf-uris", &d.conf_uris, out);
    write_uris("  ", "service-uris", &d.service_uris, out);
    let max = d.maximum_user_count.map(|n| n.to_string());
    write_text("  ", "maximum-user-count", max.as_deref(), out);
    out.push_str(" </conference-description>\n");
}

fn write_uris(indent: &str, tag: &str, entries: &[UriEntry], out: &mut String) {
    if entries.is_empty() && tag != "associated-aors" {
        return;
    }
    out.push_str(indent);
    out.push('<');
    out.push_str(tag);
    out.push_str(">\n");
    let inner = format!("{indent}  ");
    for e in entries {
        out.push_str(indent);
        out.push_str(" <entry>\n");
        write_text(&inner, "uri", Some(&e.uri), out);
        write_text(&inner, "display-text", e.display_text.as_deref(), out);
        write_text(&inner, "purpose", e.purpose.as_deref(), out);
        out.push_str(indent);
        out.push_str(" </entry>\n");
    }
    out.push_str(indent);
    out.push_str("</");
    out.push_str(tag);
    out.push_str(">\n");
}

fn write_conference_state(s: &ConferenceState, out: &mut String) {
    out.push_str(" <conference-state>\n");
    let count = s.user_count.map(|n| n.to_string());
    write_text("  ", "user-count", count.as_deref(), out);
    let boolean = |b: bool| if b { "true" } else { "false" };
    write_text("  ", "active", s.active.map(boolean), out);
    write_text("  ", "locked", s.locked.map(boolean), out);
    out.push_str(" </conference-state>\n");
}

fn write_user(u: &User, out: &mut String) {
    out.push_str("  <user entity=\"");
    escape_attr(&u.entity, out);
    out.push_str("\" state=\"");
    out.push_str(u.state.as_str());
    out.push('"');
    if let Some(nick) = &u.nickname {
        out.push_str(" xcon:nickname=\"");
        escape_attr(nick, out);
        out.push('"');
    }
    out.push_str(">\n");
    if u.state != ElementState::Deleted {
        write_text("   ", "display-text", u.display_text.as_deref(), out);
        if let Some(aors) = &u.associated_aors {
            write_uris("   ", "associated-aors", aors, out);
        }
        if let Some(roles) = &u.roles {
            out.push_str("   <roles>\n");
            for r in roles {
                write_text("    ", "entry", Some(r), out);
            }
            out.push_str("   </roles>\n");
        }
        write_text("   ", "languages", u.languages.as_deref(), out);
        for e in &u.endpoints {
            write_endpoint(e, out);
        }
    }
    out.push_str("  </user>\n");
}

fn write_endpoint(e: &Endpoint, out: &mut String) {
    out.push_str("   <endpoint entity=\"");
    escape_attr(&e.entity, out);
    out.push_str("\" state=\"");
    out.push_str(e.state.as_str());
    out.push_str("\">\n");
    if e.state != ElementState::Deleted {
        write_text("    ", "display-text", e.display_text.as_deref(), out);
        write_text("    ", "status", e.status.map(|s| s.as_str()), out);
        write_text(
            "    ",
            "joining-method",
            e.joining_method.map(|m| m.as_str()),
            out,
        );
        if let Some(info) = &e.joining_info {
            out.push_str("    <joining-info>\n");
            write_text("     ", "when", info.when.as_deref(), out);
            write_text("     ", "reason", info.reason.as_deref(), out);
            write_text("     ", "by", info.by.as_deref(), out);
            out.push_str("    </joining-info>\n");
        }
        write_text(
            "    ",
            "disconnection-method",
            e.disconnection_method.map(|m| m.as_str()),
            out,
        );
        for m in &e.media {
            write_media(m, out);
        }
    }
    out.push_str("   </endpoint>\n");
}

fn write_media(m: &Media, out: &mut String) {
    out.push_str("    <media id=\"");
    escape_attr(&m.id, out);
    out.push_str("\">\n");
    write_text("     ", "display-text", m.display_text.as_deref(), out);
    write_text("     ", "type", m.media_type.as_deref(), out);
    write_text("     ", "label", m.label.as_deref(), out);
    write_text("     ", "status", m.status.as_deref(), out);
    out.push_str("    </media>\n");
}
