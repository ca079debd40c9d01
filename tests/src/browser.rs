//! A real browser for acceptance tests: Debian's `chromedriver` on a port it
//! picks, driving headless Chromium over WebDriver (fantoccini) at a phone's
//! size, with screenshots written as test artifacts and axe-core injected into
//! pages to check them against WCAG 2.1 A/AA.
//!
//! Chromedriver runs in a process group of its own, with a private home
//! (profile, config, cache) in a temp dir; when the [`Browser`] drops, that
//! group, every process chromedriver started (Chromium and its helpers) and
//! any that left the group but name the private home (Chromium's crash
//! handlers) are killed, and the temp dir is removed.
//!
//! Where Chromium, chromedriver or axe-core is missing, [`Browser::start_or_skip`]
//! says SKIPPED and the test returns, unless `WAYMARK_REQUIRE_BROWSER=1` (CI sets
//! it: `.ci/run` installs all three), which makes that a failure.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use fantoccini::wd::{Capabilities, Locator, TimeoutConfiguration};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// A phone's viewport (an iPhone 12-14 in CSS pixels): every screenshot has it.
pub const WIDTH: u32 = 390;
pub const HEIGHT: u32 = 844;

const CHROMEDRIVER: &str = "chromedriver";
const CHROMIUM: &str = "chromium";
/// Where Debian puts them when `/usr/bin` is not on the PATH.
const KNOWN_DIRS: &[&str] = &["/usr/bin", "/usr/lib/chromium"];
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a page may take to load, an element to show, or axe to run.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// What chromedriver prints once it listens (its `--port=0` picks a free port).
const STARTED: &str = "started successfully on port ";
/// The rule sets axe runs: WCAG 2.0 and 2.1, levels A and AA.
const WCAG_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// One failed axe rule: its id, impact and the elements it failed on.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Violation {
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    pub help: String,
    pub nodes: Vec<ViolationNode>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct ViolationNode {
    /// CSS selectors locating the element.
    pub target: Value,
    pub html: String,
    #[serde(rename = "failureSummary")]
    pub failure_summary: Option<String>,
}

impl Violation {
    /// Serious and critical violations fail an accessibility check.
    pub fn is_blocking(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let impact = self.impact.as_deref().unwrap_or("unknown");
        writeln!(
            f,
            "{} ({impact}): {} on {} node(s)",
            self.id,
            self.help,
            self.nodes.len()
        )?;
        for node in &self.nodes {
            let summary = node
                .failure_summary
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            writeln!(f, "    {} {}: {summary}", node.target, node.html)?;
        }
        Ok(())
    }
}

/// The programs and files a browser test needs, found on this machine.
struct Tools {
    chromedriver: PathBuf,
    chromium: PathBuf,
    axe: PathBuf,
}

impl Tools {
    /// Every missing piece with how to get it, or all of them.
    fn find() -> Result<Self, String> {
        let chromedriver = executable(CHROMEDRIVER);
        let chromium = executable(CHROMIUM);
        let axe = axe_path();
        let mut missing = Vec::new();
        if chromedriver.is_none() {
            missing.push("chromedriver is not installed (apt-get install chromium-driver)".to_string());
        }
        if chromium.is_none() {
            missing.push("chromium is not installed (apt-get install chromium)".to_string());
        }
        if !axe.is_file() {
            missing.push(format!(
                "axe-core is not installed at {} (bash tests/browser/install.sh)",
                axe.display()
            ));
        }
        match (chromedriver, chromium) {
            (Some(chromedriver), Some(chromium)) if missing.is_empty() => Ok(Self {
                chromedriver,
                chromium,
                axe,
            }),
            _ => Err(missing.join("; ")),
        }
    }
}

fn executable(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(KNOWN_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `tests/browser/node_modules/axe-core/axe.min.js`, which `tests/browser/install.sh` installs.
pub fn axe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/node_modules/axe-core/axe.min.js")
}

/// Where a test's screenshots and reports go: `$WAYMARK_ARTIFACTS/NAME`, else
/// `target/test-artifacts/NAME` beside the test binary's build directory.
pub fn artifacts_dir(name: &str) -> PathBuf {
    if let Some(root) = std::env::var_os("WAYMARK_ARTIFACTS") {
        return PathBuf::from(root).join(name);
    }
    // The test binary is target/<profile>/deps/<name>-<hash>.
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("test-artifacts").join(name)
}

/// Chromedriver in its own process group; it and every process it started are
/// killed on drop.
struct Driver {
    child: Child,
    /// The browser's home, profile and config: unique to this driver, so a
    /// process whose command line names it is one of ours even once orphaned.
    home: PathBuf,
}

impl Driver {
    /// Starts chromedriver on a port it picks and returns it with that port.
    fn spawn(bin: &Path, log: &Path, home: &Path) -> anyhow::Result<(Self, u16)> {
        let log = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut stdout_log = log.try_clone()?;
        let mut child = Command::new(bin)
            .arg("--port=0")
            .process_group(0)
            // Chromium's config, cache and crash reports (whose handlers leave the
            // process group) in our temp dir, not the user's.
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        let stdout = child.stdout.take().context("chromedriver has no stdout")?;
        let driver = Self {
            child,
            home: home.to_path_buf(),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.split(STARTED).nth(1) {
                    tx.send(port.trim_end_matches('.').trim().parse::<u16>()).ok();
                }
                writeln!(stdout_log, "{line}").ok();
            }
        });
        let port = rx
            .recv_timeout(START_TIMEOUT)
            .context("chromedriver did not say which port it listens on")?
            .context("chromedriver's port")?;
        Ok((driver, port))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let leader = self.child.id();
        let mut ours = descendants(leader);
        ours.extend(processes_naming(&self.home));
        for pid in ours {
            kill(Pid::from_raw(pid), Signal::SIGKILL).ok();
        }
        killpg(Pid::from_raw(leader as i32), Signal::SIGKILL).ok();
        self.child.wait().ok();
        // Chromium's helpers that outlived their parent and still name our home.
        for pid in processes_naming(&self.home) {
            kill(Pid::from_raw(pid), Signal::SIGKILL).ok();
        }
    }
}

/// Every running process: pid -> (parent pid, command line).
fn process_table() -> HashMap<i32, (i32, String)> {
    let mut table = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return table;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        table.insert(pid, (ppid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
    }
    table
}

/// The children of `root`, their children, and so on.
fn descendants(root: u32) -> Vec<i32> {
    let table = process_table();
    let mut found = Vec::new();
    let mut frontier = vec![root as i32];
    while let Some(parent) = frontier.pop() {
        for (&pid, &(ppid, _)) in &table {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

fn processes_naming(dir: &Path) -> Vec<i32> {
    let needle = dir.display().to_string();
    process_table()
        .into_iter()
        .filter(|(_, (_, cmdline))| cmdline.contains(&needle))
        .map(|(pid, _)| pid)
        .collect()
}

/// Headless Chromium at 390x844, driven over WebDriver.
pub struct Browser {
    pub client: Client,
    artifacts: PathBuf,
    axe_source: String,
    // Dropped in this order: the session, then the processes, then their home.
    _driver: Driver,
    _home: tempfile::TempDir,
}

impl Browser {
    /// A browser writing artifacts under [`artifacts_dir`]`(artifacts)`, or
    /// `None` (having printed SKIPPED and why) when Chromium, chromedriver or
    /// axe-core is missing and `WAYMARK_REQUIRE_BROWSER` is not `1`.
    pub async fn start_or_skip(artifacts: &str) -> anyhow::Result<Option<Self>> {
        let required = std::env::var("WAYMARK_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        match Tools::find() {
            Ok(tools) => Ok(Some(Self::start(&tools, &artifacts_dir(artifacts)).await?)),
            Err(missing) if required => {
                bail!("a browser is required (WAYMARK_REQUIRE_BROWSER=1): {missing}")
            }
            Err(missing) => {
                eprintln!("SKIPPED: {missing}");
                Ok(None)
            }
        }
    }

    async fn start(tools: &Tools, artifacts: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(artifacts).with_context(|| format!("creating {}", artifacts.display()))?;
        let axe_source = std::fs::read_to_string(&tools.axe).with_context(|| tools.axe.display().to_string())?;
        let home = tempfile::Builder::new().prefix("waymark-chromium-").tempdir()?;
        let (driver, port) = Driver::spawn(&tools.chromedriver, &artifacts.join("chromedriver.log"), home.path())?;
        let mut caps = Capabilities::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": tools.chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    format!("--window-size={WIDTH},{HEIGHT}"),
                    format!("--user-data-dir={}", home.path().join("profile").display()),
                ],
                // The window alone cannot be that narrow (headless Chromium keeps
                // it at least 500 wide): a phone's viewport, with its meta
                // viewport honoured and touch events, at one device pixel per CSS
                // pixel so that screenshots are exactly 390x844.
                "mobileEmulation": {
                    "deviceMetrics": { "width": WIDTH, "height": HEIGHT, "pixelRatio": 1.0, "mobile": true, "touch": true },
                },
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .with_context(|| {
                format!(
                    "starting a Chromium session; see {}",
                    artifacts.join("chromedriver.log").display()
                )
            })?;
        client
            .update_timeouts(TimeoutConfiguration::new(Some(TIMEOUT), Some(TIMEOUT), None))
            .await?;
        Ok(Self {
            client,
            artifacts: artifacts.to_path_buf(),
            axe_source,
            _driver: driver,
            _home: home,
        })
    }

    /// Ends the WebDriver session (Chromium quits), then drops the rest.
    pub async fn close(self) -> anyhow::Result<()> {
        self.client.clone().close().await?;
        Ok(())
    }

    pub fn artifacts(&self) -> &Path {
        &self.artifacts
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client.goto(url).await.with_context(|| format!("opening {url}"))
    }

    /// Waits until an element matches `css` (after a navigation, say).
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        match self.client.wait().at_most(TIMEOUT).for_element(Locator::Css(css)).await {
            Ok(element) => Ok(element),
            Err(e) => Err(anyhow::Error::new(e).context(format!("waiting for `{css}` on {}", self.url().await))),
        }
    }

    /// The current URL, for messages.
    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// The page as the browser holds it now: `document.documentElement.outerHTML`.
    pub async fn outer_html(&self) -> anyhow::Result<String> {
        let v = self
            .client
            .execute("return document.documentElement.outerHTML;", vec![])
            .await?;
        v.as_str().map(str::to_string).context("outerHTML is not a string")
    }

    /// Writes a screenshot of the viewport to `<artifacts>/<name>.png`; fails
    /// unless it is 390x844.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let path = self.artifacts.join(format!("{name}.png"));
        std::fs::write(&path, &png).with_context(|| path.display().to_string())?;
        let size = png_size(&png).context("the screenshot is not a PNG")?;
        anyhow::ensure!(
            size == (WIDTH, HEIGHT),
            "screenshot {} is {}x{}, not {WIDTH}x{HEIGHT}",
            path.display(),
            size.0,
            size.1
        );
        Ok(path)
    }

    /// Runs axe-core (WCAG 2.1 A and AA rules) on the current page; every
    /// violation, whatever its impact. The full report goes to `<artifacts>/<name>.axe.json`.
    pub async fn axe(&self, name: &str) -> anyhow::Result<Vec<Violation>> {
        let present = self
            .client
            .execute("return typeof window.axe === 'object';", vec![])
            .await?;
        if present != Value::Bool(true) {
            self.client
                .execute(&self.axe_source, vec![])
                .await
                .context("injecting axe-core")?;
        }
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: { type: 'tag', values: arguments[0] }, resultTypes: ['violations'] })
                    .then(r => done({ violations: r.violations }))
                    .catch(e => done({ error: String(e) }));",
                vec![json!(WCAG_TAGS)],
            )
            .await
            .context("running axe-core")?;
        if let Some(e) = result.get("error") {
            bail!("axe-core failed on {}: {e}", self.url().await);
        }
        let path = self.artifacts.join(format!("{name}.axe.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&result["violations"])?)?;
        Ok(serde_json::from_value(result["violations"].clone())?)
    }

    /// Fails listing every serious or critical axe violation on the current
    /// page; returns the lesser ones for the caller to show.
    pub async fn check_accessibility(&self, name: &str) -> anyhow::Result<Vec<Violation>> {
        let (blocking, minor): (Vec<_>, Vec<_>) = self.axe(name).await?.into_iter().partition(Violation::is_blocking);
        if !blocking.is_empty() {
            let list: String = blocking.iter().map(ToString::to_string).collect();
            bail!(
                "axe-core: {} serious or critical violation(s) on {name} ({}):\n{list}",
                blocking.len(),
                self.url().await
            );
        }
        Ok(minor)
    }
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.get(..8)? != b"\x89PNG\r\n\x1a\n" {
        return None;
    }
    let be = |at: usize| Some(u32::from_be_bytes(png.get(at..at + 4)?.try_into().ok()?));
    Some((be(16)?, be(20)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_size_reads_the_header() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend(390u32.to_be_bytes());
        png.extend(844u32.to_be_bytes());
        assert_eq!(png_size(&png), Some((390, 844)));
        assert_eq!(png_size(b"GIF89a"), None);
    }

    #[test]
    fn only_serious_and_critical_violations_block() {
        let v = |impact: &str| Violation {
            id: "x".into(),
            impact: Some(impact.into()),
            help: String::new(),
            nodes: Vec::new(),
        };
        assert!(v("critical").is_blocking() && v("serious").is_blocking());
        assert!(!v("moderate").is_blocking() && !v("minor").is_blocking());
    }
}
