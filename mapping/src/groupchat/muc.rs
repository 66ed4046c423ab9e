//! RFC 7702 mappings (in progress).
