//! Test harness shared by Parley's end-to-end tests.
//!
//! Starts real peers (Prosody, sipp) as child processes on loopback with free
//! ports and temporary directories, and stops them when dropped.

/// The `parley` binary under test.
pub mod parley;
/// Free loopback ports picked at run time.
pub mod port;
/// A real Prosody (Debian package) on loopback.
pub mod prosody;
/// sipp (Debian package `sip-tester`) scenarios against a SIP endpoint on loopback.
pub mod sipp;
/// A real XMPP c2s client for the XMPP user's side of a test.
pub mod xmpp_client;
