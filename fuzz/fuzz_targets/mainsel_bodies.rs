//! The node's REST bodies and data-service pages: `InitLocal` (with its
//! validation), `RecordsRequest` and `RecordsPage` (validated against a fixed
//! configuration, the reference's initLocal example). The first input byte
//! chooses the message; nothing may panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use protocol_spec::config::LinkageConfig;
use protocol_spec::messages::mainsel::{InitLocal, RecordsPage, RecordsRequest};
use protocol_spec::value::records_from_wire;

fn config() -> &'static LinkageConfig {
    static CONFIG: OnceLock<LinkageConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let text = include_str!("../../protocol-spec/tests/fixtures/reference/init_local.json");
        let init: InitLocal = serde_json::from_str(text).expect("fixture parses");
        init.validate().expect("fixture validates")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            if let Ok(init) = serde_json::from_slice::<InitLocal>(body) {
                let _ = init.validate();
            }
        }
        1 => {
            if let Ok(request) = serde_json::from_slice::<RecordsRequest>(body) {
                let _ = request.validate(config());
            }
        }
        _ => {
            if let Ok(page) = serde_json::from_slice::<RecordsPage>(body) {
                let _ = page.is_last();
                let _ = page.next_href();
                let _ = records_from_wire(config(), &page.records);
            }
        }
    }
});
