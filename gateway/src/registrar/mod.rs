//! Parley as the phones' registrar (RFC 3261 §10.3), for deployments
//! without a SIP proxy; issue 22 item 4.

pub mod users;
