//! Design §4a: several instances on one shared store. A SIP MESSAGE waits at
//! the instance that took it for its delivery window, and its receipts wait
//! there longer; but the XMPP server hands an error for its `<message/>`, or
//! a receipt or marker of it, to any instance. So with a shared store each
//! instance mints stanza ids that name it (`parley-<instance>-<n>`), and an
//! error, receipt or marker of another instance's id is handed to that
//! instance through the store, which acts on it as if it had come there.
//! Without a shared store the ids stay `parley-<n>`.

use parley_mapping::imdn;
use parley_xmpp::stanza::{Message, MessageType, Stanza};
use tracing::warn;

use crate::links::Links;

/// The prefix of the stanza ids this instance mints.
pub(super) fn id_prefix(links: &Links) -> String {
    if links.store.is_shared() {
        format!("parley-{}-", links.store.instance_id())
    } else {
        "parley-".to_owned()
    }
}

/// The instance that minted a Parley stanza id `parley-<instance>-<hex>`.
fn minter(id: &str) -> Option<&str> {
    let (instance, n) = id.strip_prefix("parley-")?.rsplit_once('-')?;
    (!instance.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(instance)
}

/// The other instance whose stanza `message` answers (an error for it, a
/// receipt or marker of it), if the store is shared and it is another's.
pub(super) fn answers_elsewhere(links: &Links, message: &Message) -> Option<String> {
    if !links.store.is_shared() {
        return None;
    }
    let me = links.store.instance_id();
    let ids: Vec<String> = if message.message_type == Some(MessageType::Error) {
        message.id.iter().cloned().collect()
    } else {
        imdn::xmpp_acks(&message.payloads)
            .into_iter()
            .map(|ack| ack.id)
            .collect()
    };
    ids.iter()
        .filter_map(|id| minter(id))
        .find(|instance| *instance != me)
        .map(str::to_owned)
}

/// Hand `message` to `owner` through the store, in a tracked task.
pub(super) fn hand_off(links: &std::sync::Arc<Links>, owner: String, message: Message) {
    let links_for_task = std::sync::Arc::clone(links);
    links.tasks.spawn(async move {
        let mut xml = Vec::with_capacity(256);
        Stanza::Message(message).write_to(&mut xml);
        match links_for_task.store.hand_off(&owner, xml).await {
            Ok(()) => links_for_task.metrics.store_handoff("sent"),
            Err(e) => {
                // The owner never hears of it: its MESSAGE is answered 200
                // when the window closes, as if no error had come.
                warn!(error = %e, %owner, "message error or receipt not handed to its instance");
                links_for_task.metrics.error("store_handoff");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::minter;

    #[test]
    fn the_minting_instance_is_read_from_the_id() {
        assert_eq!(minter("parley-a-1f"), Some("a"));
        assert_eq!(minter("parley-pod-0-2a"), Some("pod-0"));
        assert_eq!(minter("parley-1f"), None);
        assert_eq!(minter("parley-a-"), None);
        assert_eq!(minter("parley-a-xyz"), None);
        assert_eq!(minter("other-a-1"), None);
    }
}
