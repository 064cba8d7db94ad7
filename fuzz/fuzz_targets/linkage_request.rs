//! A linkage-service post (`POST /linkageResult`): JSON parsing and the
//! post's own checks never panic; `Debug` never shows the job tag; a post
//! that passes `check` survives a write/read round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol_spec::messages::linkage::LinkageResultRequest;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<LinkageResultRequest>(data) else {
        return;
    };
    let debug = format!("{request:?}");
    if request.job_tag.len() >= 8 {
        assert!(!debug.contains(&request.job_tag), "Debug shows the job tag");
    }
    if request.check().is_ok() {
        let text = serde_json::to_vec(&request).expect("serialises");
        let again: LinkageResultRequest = serde_json::from_slice(&text).expect("reparses");
        assert_eq!(again, request);
    }
});
