//! Test harness shared by Parley's end-to-end tests.
//!
//! Starts real peers (Prosody, sipp) as child processes on loopback with free
//! ports and temporary directories, and stops them when dropped.

/// Free loopback ports picked at run time.
pub mod port;
