//! A real headless Chromium for page tests, driven over WebDriver
//! (`chromedriver`, through the `fantoccini` client).
//!
//! Small on purpose: start, open a URL, wait until a JS expression or a
//! selector holds, read a selector's text, set an input's value, click,
//! close. Page tests share it (the status page; the de-identification page).
//!
//! When Chromium or chromedriver is missing, [`Browser::start`] returns
//! `None` after printing why, so a developer without them can still run the
//! other tests; with the `CI` variable set it panics instead: CI must run
//! the page tests. `CHROMIUM` and `CHROMEDRIVER` override the binaries'
//! paths (default: Debian's `/usr/bin/chromium` and `/usr/bin/chromedriver`).

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long to wait for chromedriver to listen.
const DRIVER_START: Duration = Duration::from_secs(20);
/// Between two evaluations of a wait condition.
const POLL: Duration = Duration::from_millis(100);

/// The Chromium flags that work headless in a container as root: no
/// sandbox, no GPU, no QUIC, and nothing that calls home.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1200",
];

/// A headless Chromium with one window, and the chromedriver that drives it.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    profile: PathBuf,
}

fn binary(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// A port nobody listens on right now (chromedriver takes a port number).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile.
    /// `None` (with a printed reason) when either binary is missing and
    /// `CI` is not set.
    pub async fn start() -> Option<Browser> {
        let chromium = binary("CHROMIUM", "/usr/bin/chromium");
        let chromedriver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        for (what, path) in [("chromium", &chromium), ("chromedriver", &chromedriver)] {
            if !path.exists() {
                let why = format!(
                    "{what} not found at {} (install: apt-get install chromium chromium-driver)",
                    path.display()
                );
                if std::env::var_os("CI").is_some() {
                    panic!("{why}; CI must run the browser tests");
                }
                eprintln!("SKIPPED: {why}");
                return None;
            }
        }
        let profile = std::env::temp_dir().join(format!(
            "sel-node-chromium-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&profile).expect("chromium profile dir");
        let port = free_port();
        let driver = spawn_driver(&chromedriver, port);
        let mut browser = Browser {
            client: None,
            driver,
            profile,
        };
        browser.wait_for_driver(port);
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", browser.profile.display()));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": args}),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session with headless Chromium");
        browser.client = Some(client);
        Some(browser)
    }

    fn wait_for_driver(&mut self, port: u16) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + DRIVER_START;
        while TcpStream::connect_timeout(&addr, POLL).is_err() {
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {addr}"
            );
            std::thread::sleep(POLL);
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a started browser")
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn open(&self, url: &str) {
        self.client()
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The value of the JS expression `expr` in the page.
    pub async fn eval(&self, expr: &str) -> Value {
        self.client()
            .execute(&format!("return ({expr});"), vec![])
            .await
            .unwrap_or_else(|e| panic!("evaluate {expr}: {e}"))
    }

    /// Waits until the JS expression `expr` is truthy; its value. Panics
    /// after `timeout` with the last value and the page's text.
    pub async fn wait_for(&self, expr: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.eval(expr).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() >= deadline {
                let text = self
                    .eval("document.body ? document.body.innerText : ''")
                    .await;
                panic!(
                    "waited {timeout:?} for `{expr}` (last value {v}); the page reads:\n{}",
                    text.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until an element matches the CSS selector `css`.
    pub async fn wait_for_selector(&self, css: &str, timeout: Duration) {
        let expr = format!("document.querySelector({}) !== null", js_string(css));
        self.wait_for(&expr, timeout).await;
    }

    /// The text of the first element matching `css` (`None` if none does).
    pub async fn text(&self, css: &str) -> Option<String> {
        let expr = format!(
            "(function(e){{return e === null ? null : e.textContent;}})(document.querySelector({}))",
            js_string(css)
        );
        self.eval(&expr).await.as_str().map(str::to_owned)
    }

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> usize {
        let expr = format!("document.querySelectorAll({}).length", js_string(css));
        self.eval(&expr).await.as_u64().unwrap_or(0) as usize
    }

    /// Types `value` into the input matching `css`, replacing its content.
    pub async fn set_value(&self, css: &str, value: &str) {
        let input = self.find(css).await;
        input
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        input
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
    }

    /// Saves a PNG of the window at `path` (for looking at a failing page).
    pub async fn screenshot(&self, path: &Path) {
        let png = self
            .client()
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Ends the session (Chromium exits), then stops chromedriver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for Browser {
    /// Also on a failed test: chromedriver runs in its own process group,
    /// with the Chromium it started; the whole group is stopped.
    fn drop(&mut self) {
        let pgid = self.driver.id();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn spawn_driver(chromedriver: &Path, port: u16) -> Child {
    use std::os::unix::process::CommandExt as _;
    Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()))
}

/// `s` as a JS string literal.
pub fn js_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}
