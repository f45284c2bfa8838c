//! Fuzz target: see `monocoque_zmtp::fuzzing::socket_core`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    monocoque_zmtp::fuzzing::socket_core(data);
});
