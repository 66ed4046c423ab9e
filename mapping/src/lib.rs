//! Pure translation between SIP/SIMPLE and XMPP (RFC 7247, RFC 7572, RFC 8048).
//!
//! No I/O, no async, no clock: everything is a function from parsed input to output.
