//! What the tests that run `sel-node` with a de-id service share: a node
//! configuration whose `[deid]` section listens on port 0.

use std::path::{Path, PathBuf};

use sel_node::seal::NodeKey;

/// Writes a node key and a `node.toml` into `dir`, the de-id service
/// listening on port 0 with its master key in the environment variable
/// `master_env`; returns the configuration's path.
pub fn deid_config(dir: &Path, master_env: &str) -> PathBuf {
    NodeKey::generate_file(&dir.join("node.key")).unwrap();
    let config = dir.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nnode_key_file = {:?}\n[deid]\nlisten = \"127.0.0.1:0\"\nmaster_key_env = {:?}\n",
            dir.display().to_string(),
            dir.join("node.key").display().to_string(),
            master_env,
        ),
    )
    .unwrap();
    config
}
