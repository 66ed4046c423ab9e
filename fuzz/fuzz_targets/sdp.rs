#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parley_msrp::fuzzing::sdp_offer_answer(data));
