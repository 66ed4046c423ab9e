//! Filled by the XMPP component work: a c2s client for tests.
