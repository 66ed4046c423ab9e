//! XEP-0199 keepalive pings when several instances serve one domain (design
//! §4a). Each instance pings its own domain through the XMPP server when its
//! stream is idle (`parley_xmpp::component`); ejabberd routes that ping, and
//! its answer, to any instance of the domain, so the answer to one instance's
//! ping often reaches another. With a shared store each instance's ping ids
//! name it (`parley-keepalive-<instance>-<n>`), and an answer reaching
//! another instance is handed to the pinger through the store, whose stream
//! then counts as alive. Without it, the pinger saw no answer, took the
//! server for dead and dropped a working stream.

use std::sync::Arc;

use parley_xmpp::component::KEEPALIVE_ID_PREFIX;
use parley_xmpp::stanza::{Iq, IqType, Stanza};
use tracing::warn;

use crate::links::Links;

/// The ping id prefix of this instance: its store instance with a shared
/// store, the common prefix without one (one instance holds the domain).
pub(crate) fn id_prefix(shared: bool, instance: &str) -> String {
    if shared {
        format!("{KEEPALIVE_ID_PREFIX}{instance}-")
    } else {
        KEEPALIVE_ID_PREFIX.to_owned()
    }
}

/// Whether `stanza` answers a Parley keepalive ping (a result or error with
/// a keepalive id, from the component domain itself): what admission lets
/// through from the component's own domain.
pub(crate) fn is_keepalive_answer(stanza: &Stanza, component_domain: &str) -> bool {
    matches!(stanza, Stanza::Iq(iq)
        if matches!(iq.iq_type, IqType::Result | IqType::Error)
            && iq.id.starts_with(KEEPALIVE_ID_PREFIX)
            && iq.from.as_deref().is_some_and(|f| f.eq_ignore_ascii_case(component_domain)))
}

/// The instance whose ping `id` (`parley-keepalive-<instance>-<hex>`) is.
fn pinger(id: &str) -> Option<&str> {
    let (instance, n) = id.strip_prefix(KEEPALIVE_ID_PREFIX)?.rsplit_once('-')?;
    (!instance.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(instance)
}

/// If `iq` answers another instance's keepalive ping, hand it to that
/// instance through the store (in a tracked task) and say so; `false` for
/// anything else.
pub(crate) fn answer_elsewhere(links: &Arc<Links>, iq: &Iq) -> bool {
    if !links.store.is_shared() || !matches!(iq.iq_type, IqType::Result | IqType::Error) {
        return false;
    }
    let Some(owner) = pinger(&iq.id).filter(|p| *p != links.store.instance_id()) else {
        return false;
    };
    let owner = owner.to_owned();
    let mut xml = Vec::with_capacity(128);
    Stanza::Iq(iq.clone()).write_to(&mut xml);
    let for_task = Arc::clone(links);
    links.tasks.spawn(async move {
        match for_task.store.hand_off(&owner, xml).await {
            Ok(()) => for_task.metrics.store_handoff("sent"),
            Err(e) => {
                // The pinger may then take its server for silent and
                // reconnect: said, counted.
                warn!(error = %e, %owner, "keepalive answer not handed to its instance");
                for_task.metrics.error("store_handoff");
            }
        }
    });
    true
}

/// An IQ another instance handed here: the answer to one of this
/// instance's pings.
pub(crate) fn handed_over(links: &Links, iq: &Iq) {
    links.xmpp.keepalive_answered(&iq.id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinger_is_read_from_the_id() {
        assert_eq!(pinger("parley-keepalive-a-1f"), Some("a"));
        assert_eq!(pinger("parley-keepalive-pod-0-2a"), Some("pod-0"));
        assert_eq!(pinger("parley-keepalive-1f"), None);
        assert_eq!(pinger("parley-keepalive-a-"), None);
        assert_eq!(pinger("parley-a-1f"), None);
        assert_eq!(id_prefix(true, "pod-0"), "parley-keepalive-pod-0-");
        assert_eq!(id_prefix(false, "pod-0"), "parley-keepalive-");
    }
}
