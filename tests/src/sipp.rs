//! Filled by the SIP work: runs sipp scenarios on loopback.
