//! RFC 7702 §5.7: a mediated invitation (XEP-0045 §7.8.2, Example 22)
//! becomes a REFER to the focus in the INVITE dialog (Example 23, RFC 4579
//! §5.5) with the invitee's SIP address in Refer-To. The focus's NOTIFYs
//! of the REFER's progress (`Event: refer`, RFC 3515) are answered 200 and
//! otherwise not shown to the user (XEP-0045 has no stanza for them); a
//! refused REFER is the invitation's error.

use std::sync::Arc;

use tracing::{debug, info};

use parley_mapping::address::{Jid, SipAddress};
use parley_mapping::error::sip_status_to_stanza_error;
use parley_mapping::groupchat::occupant::NS_MUC_USER;
use parley_sip::OutgoingRequest;
use parley_sip::dialog::session::Session as Dialog;
use parley_xmpp::stanza::{DefinedCondition, Message, StanzaError};

use super::Shared;

/// The invitee of a mediated invitation (`<x xmlns='…muc#user'><invite
/// to='…'/></x>`), if `m` is one.
pub(super) fn invitee(m: &Message) -> Option<Jid> {
    let x = m
        .payloads
        .iter()
        .find(|e| e.name == "x" && e.ns == NS_MUC_USER)?;
    let invite = x.child("invite", NS_MUC_USER)?;
    Jid::parse(invite.attr("to")?).ok()
}

/// The invitee's SIP address: a JID at the component stands for a SIP user
/// (design §2), any other is an XMPP user's address at Parley (RFC 7247 §6).
fn invitee_uri(shared: &Shared, invitee: &Jid) -> Option<SipAddress> {
    let mapper = &shared.links.mapper;
    if invitee
        .domain()
        .eq_ignore_ascii_case(&shared.links.component_domain)
    {
        mapper.jid_to_sip_user(&invitee.bare()).ok()
    } else {
        mapper.xmpp_user_to_sip(&invitee.bare()).ok()
    }
}

/// Example 22 → Example 23: the REFER, sent from its own task; a final
/// answer other than 2xx bounces the invitation with RFC 7247 §7.2's
/// condition for its status. `contact` (`contact.rs`): the REFER's
/// Contact is the same as the INVITE's, `gr` and all.
pub(super) fn refer(
    shared: &Arc<Shared>,
    dialog: &mut Dialog,
    m: Message,
    invitee: &Jid,
    contact: Option<&str>,
) {
    let Some(target) = invitee_uri(shared, invitee) else {
        shared
            .links
            .bounce(&m, StanzaError::new(DefinedCondition::JidMalformed));
        return;
    };
    let mut headers = vec![
        ("Refer-To".into(), format!("<{target}>")),
        ("Accept".into(), "message/sipfrag".into()),
    ];
    headers.extend(contact.map(|c| ("Contact".to_owned(), c.to_owned())));
    let request = OutgoingRequest::in_dialog(dialog.dialog.next_request("REFER"), headers, None);
    let shared = Arc::clone(shared);
    let links = Arc::clone(&shared.links);
    links.tasks.spawn(async move {
        let answer =
            tokio::time::timeout(shared.step(), shared.links.sip.send_request(request)).await;
        match answer {
            Ok(Ok(r)) if r.is_success() => debug!(status = r.status, "REFER accepted"),
            Ok(Ok(r)) => {
                info!(status = r.status, "REFER refused by the focus");
                shared
                    .links
                    .bounce(&m, sip_status_to_stanza_error(r.status, None));
            }
            _ => shared
                .links
                .bounce(&m, StanzaError::new(DefinedCondition::RemoteServerTimeout)),
        }
    });
}
