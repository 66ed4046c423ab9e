#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parley_mapping::fuzzing::conference_info(data));
