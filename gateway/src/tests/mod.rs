//! In-process router tests (issue 20 item 7): literal SIP in over loopback
//! UDP and literal XML in, and the exact bytes out on both sides, through
//! the same wiring as `run_with`. One test per row of RFC 7572's Tables 1
//! and 2, per step of RFC 8048's flows, per RFC 7247 §7 error row taken.
//! The end-to-end tests (`gateway/tests/`) run the real binary with Prosody
//! and sipp; these run in milliseconds and name the step that broke.

mod registrar_store;
mod restore_local_limit;
mod rfc3261_10_3_registrar;
mod rfc3923;
mod rfc4028_sessions;
mod rfc4975_14_msrps;
mod rfc5627_gruu;
mod rfc6665_4_timers;
mod rfc7247_7;
mod rfc7572_table1;
mod rfc7572_table2;
mod rfc7573_4;
mod rfc7573_5;
mod rfc7701_6_switch;
mod rfc7702_5;
mod rfc7702_5_musts;
mod rfc7702_5_restart;
mod rfc7702_6;
mod rfc7702_6_2;
mod rfc7702_6_4;
mod rfc7702_6_5;
mod rfc7702_6_reinvite;
mod rfc7702_musts;
mod rfc8048_5_2;
mod rfc8048_5_2_2;
mod rfc8048_5_3;
mod rfc8048_7_1;
mod rfc8048_7_2;
mod romeo;
mod shared_store;
mod world;
