//! The peer's EpiLink handshake: decoding never panics, and whatever decodes
//! encodes back to a message that decodes to the same handshake.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpc_core::epilink::handshake::Hello;

fuzz_target!(|data: &[u8]| {
    if let Ok(hello) = Hello::decode(data) {
        let again = Hello::decode(&hello.encode()).expect("an encoded handshake decodes");
        assert_eq!(again, hello);
    }
});
