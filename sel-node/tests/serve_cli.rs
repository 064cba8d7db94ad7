//! `sel-node serve` settings as a real process sees them: defaults < config
//! file < `SEL_*` environment < flags, checked with `serve --check` (which
//! prints the effective settings as TOML and exits), and the refusals.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("serve_cli-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `sel-node serve ARGS` with exactly the given `SEL_*` variables.
fn serve(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sel-node"));
    cmd.arg("serve").args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("SEL_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run sel-node")
}

fn effective(out: &Output) -> toml::Table {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    toml::from_str(&String::from_utf8_lossy(&out.stdout)).expect("--check prints TOML")
}

#[test]
fn file_then_environment_then_flags() {
    let dir = scratch("precedence");
    let config = dir.join("node.toml");
    std::fs::write(
        &config,
        "workers = 5\nmax_queued_jobs = 100\nhold_deadline = \"2m\"\ncallback_attempts = 3\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let file = effective(&serve(&[], &["--config", config, "--check"]));
    assert_eq!(file["workers"].as_integer(), Some(5));
    assert_eq!(file["max_queued_jobs"].as_integer(), Some(100));
    assert_eq!(file["hold_deadline"].as_str(), Some("120s"));
    assert_eq!(file["workers_per_remote"].as_integer(), Some(2), "default");

    let env = [
        ("SEL_WORKERS", "6"),
        ("SEL_HOLD_DEADLINE", "90s"),
        ("SEL_CONFIG", config),
    ];
    let with_env = effective(&serve(&env, &["--check"]));
    assert_eq!(with_env["workers"].as_integer(), Some(6));
    assert_eq!(with_env["hold_deadline"].as_str(), Some("90s"));
    assert_eq!(
        with_env["max_queued_jobs"].as_integer(),
        Some(100),
        "from SEL_CONFIG's file"
    );

    let flags = effective(&serve(&env, &["--check", "--workers", "7"]));
    assert_eq!(flags["workers"].as_integer(), Some(7));
    assert_eq!(flags["hold_deadline"].as_str(), Some("90s"));
    assert_eq!(flags["callback_attempts"].as_integer(), Some(3));
}

#[test]
fn insecure_http_is_a_flag_only() {
    let out = serve(&[("SEL_INSECURE_HTTP", "true")], &["--check"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("insecure_http = false"));
    let out = serve(&[], &["--check", "--insecure-http"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("insecure_http = true"));
}

#[test]
fn bad_settings_exit_2_naming_the_setting() {
    let out = serve(&[("SEL_WORKERS", "0")], &["--check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("workers"));

    let out = serve(&[("SEL_TLS_CERT", "node.pem")], &["--check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls_key"));

    let dir = scratch("bad");
    let config = dir.join("node.toml");
    std::fs::write(&config, "api_listen = \"127.0.0.1:1\"\nbogus = 1\n").unwrap();
    let out = serve(&[], &["--check", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("node.toml") && err.contains("bogus"), "{err}");

    // A malformed environment value is a usage error (clap's exit status 2).
    let out = serve(&[("SEL_CACHE_MAX_AGE", "soon")], &["--check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cache-max-age"));
}

#[test]
fn the_example_configuration_loads() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/node.toml");
    let out = serve(&[], &["--check", "--config", example.to_str().unwrap()]);
    let settings = effective(&out);
    assert!(settings.contains_key("api_listen"));
}
