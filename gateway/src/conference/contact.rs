//! RFC 7702 §5.1 (7702-3): the Contact of the user's INVITE and SUBSCRIBE.
//! "the XMPP-to-SIP gateway MUST map the bare JID ("localpart@domainpart")
//! of the XMPP sender to the SIP From header and include the resourcepart
//! of the full JID as the Globally Routable User Agent URI (GRUU) portion
//! [RFC5627] of the SIP URI." The From stays the bare JID (the focus lists
//! the user by it, RFC 7701 §6.1); the resourcepart goes into the Contact
//! as its `gr` URI parameter (RFC 7247 §6.3: "it is reasonable to map the
//! value of a "gr" URI parameter to an XMPP resourcepart and vice versa").
//!
//! Which URI: RFC 5627 §3 says a GRUU "routes to a specific UA instance",
//! and the focus sends its BYE, re-INVITE and NOTIFYs to the Contact. The
//! user's AOR with `gr` (Example 2's `sip:juliet@example.com`) would send
//! them to whatever answers SIP for the XMPP user's domain, which Parley
//! is not in every deployment (`[registrar]` serves `sip.domain`, not the
//! XMPP domains). So the Contact is Parley's own address, as the SIP
//! endpoint writes it (advertised host, port, transport), with the user's
//! escaped localpart as user part and the resourcepart as `gr`:
//! `<sip:juliet@PARLEY:PORT;gr=balcony>`. Inside the angle brackets, a URI
//! parameter (RFC 5627 §7: `uri-parameter =/ gr-param`; Example 2 puts
//! it outside, where RFC 3261 §20.10 makes it a header parameter).

use std::net::SocketAddr;

use tracing::debug;

use parley_mapping::address::{Jid, SipAddress, gr_value};
use parley_sip::Transport;

use super::Shared;

/// The Contact for `user` (a full JID) in requests to `target`; `None`
/// (the endpoint's default Contact) without a resourcepart or when the
/// next hop's address is not found within `conference.join_secs`.
pub(super) async fn contact(shared: &Shared, user: &Jid, target: &SipAddress) -> Option<String> {
    let resource = user.resource()?;
    let me = shared.links.mapper.xmpp_user_to_sip(&user.bare()).ok()?;
    let user_part = me.user_as_written()?;
    let next_hop = shared
        .settings
        .outbound_proxy
        .clone()
        .unwrap_or_else(|| target.to_string());
    let (host, port, transport) = crate::trunk::registrar_target(&next_hop);
    let lookup = tokio::net::lookup_host((host.as_str(), port));
    let peer: Option<SocketAddr> = match tokio::time::timeout(shared.step(), lookup).await {
        Ok(Ok(mut found)) => found.next(),
        _ => None,
    };
    let Some(peer) = peer else {
        debug!(%host, "conference next hop not resolved: the endpoint's Contact, no gr");
        return None;
    };
    // A transport Parley listens on, that one first.
    let transport = [transport, Transport::Udp, Transport::Tcp, Transport::Tls]
        .into_iter()
        .find(|t| shared.links.sip.local_addr(*t).is_some())
        .unwrap_or(transport);
    let base = shared.links.sip.contact(Some(&user_part), transport, peer);
    Some(with_gr(&base, resource))
}

/// `<sip:u@h:p;transport=tcp>` → `<sip:u@h:p;transport=tcp;gr=RESOURCE>`.
fn with_gr(contact: &str, resource: &str) -> String {
    let inner = contact.trim_start_matches('<').trim_end_matches('>');
    format!("<{inner};gr={}>", gr_value(resource))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gr_parameter_goes_inside_the_angle_brackets() {
        assert_eq!(
            with_gr("<sip:juliet@127.0.0.1:5060;transport=tcp>", "balcony"),
            "<sip:juliet@127.0.0.1:5060;transport=tcp;gr=balcony>"
        );
    }
}
