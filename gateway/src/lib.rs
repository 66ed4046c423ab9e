//! The `parley` gateway: wires the SIP user agent and the XMPP component through the mapping layer.
