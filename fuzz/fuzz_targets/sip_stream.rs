#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parley_sip::fuzzing::stream_in_pieces(data));
