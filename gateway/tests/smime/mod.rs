#![allow(dead_code)]
//! What the RFC 3923 tests need besides the world: S/MIME made by openssl
//! (`pki`) and a SIP endpoint that keeps octets (`sip_tcp`).

pub(crate) mod pki;
pub(crate) mod sip_tcp;
