#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parley_msrp::sdp::fuzzing::offer_answer(data));
