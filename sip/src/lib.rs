//! The SIP user agent side of Parley (RFC 3261): transports, transactions, dialogs.
