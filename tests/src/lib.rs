//! Test harness shared by Parley's end-to-end tests.
//!
//! Starts real peers (Prosody, ejabberd, Kamailio, sipp, PostgreSQL) as child processes on loopback with free
//! ports and temporary directories, and stops them when dropped.

/// A minimal SIP conference focus and MSRP switch (RFC 4575, RFC 7701), not from Parley's code.
pub mod conference_focus;
/// A real ejabberd (Debian package) on loopback, with `deploy/ejabberd/parley.yml`.
pub mod ejabberd;
/// Replaying fuzz corpora as regression tests.
pub mod fuzz_corpus;
/// A real Kamailio (Debian package) on loopback, running `deploy/kamailio/kamailio.cfg`.
pub mod kamailio;
/// A real Kamailio (Debian package) as an MSRP relay (RFC 4976), its `msrp` module.
pub mod kamailio_msrp;
/// A real Kamailio (Debian package) as a registrar with digest auth, for trunk registration.
pub mod kamailio_registrar;
/// Import graphs of a crate's modules, read from its source (the `layers` tests).
pub mod layers;
/// linphonec as a test phone.
pub mod linphone;
/// An MSRP peer written from RFC 4975's grammar, not from Parley's code.
pub mod msrp_peer;
/// The `parley` binary under test.
pub mod parley;
/// A test CA and server certificates made by `openssl` at test time.
pub mod pki;
/// Free loopback ports picked at run time.
pub mod port;
/// A real PostgreSQL (Debian package) on loopback, for the shared store.
pub mod postgres;
/// Waiting for a started server to listen, and stopping it.
pub mod process;
/// A real Prosody (Debian package) on loopback.
pub mod prosody;
/// sipp (Debian package `sip-tester`) scenarios against a SIP endpoint on loopback.
pub mod sipp;
/// A real XMPP c2s client for the XMPP user's side of a test.
pub mod xmpp_client;
