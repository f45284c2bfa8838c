//! Fuzz target: see `monocoque_zmtp::fuzzing::curve_handshake`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    monocoque_zmtp::fuzzing::curve_handshake(data);
});
