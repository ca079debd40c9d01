//! A Mosquitto broker of the test's own: on a free port, with a generated config that
//! keeps every queued message (`max_queued_messages 0`: the default keeps 1,000 per
//! session and drops the rest while the gateway is down) and persistence on, in a temp
//! dir. Killed when dropped. No test depends on a broker the machine happens to run.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::harness::KillOnDrop;

/// Where Debian and others put the broker when `/usr/sbin` is not on the PATH.
const KNOWN_PATHS: &[&str] = &["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"];
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// A port found free can be taken before the broker binds it: try again that often.
const ATTEMPTS: usize = 5;

pub struct Mosquitto {
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    _child: KillOnDrop,
}

impl Mosquitto {
    /// The `mosquitto` executable, if installed.
    pub fn binary() -> Option<PathBuf> {
        let on_path = std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("mosquitto"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        on_path
            .into_iter()
            .chain(KNOWN_PATHS.iter().map(PathBuf::from))
            .find(|p| p.is_file())
    }

    /// Starts a broker on a free loopback port and waits until it accepts connections.
    /// `Ok(None)`: Mosquitto is not installed (the caller says SKIPPED; CI installs it).
    pub fn start() -> anyhow::Result<Option<Self>> {
        let Some(bin) = Self::binary() else { return Ok(None) };
        let mut last_error = None;
        for _ in 0..ATTEMPTS {
            match Self::start_with(&bin) {
                Ok(m) => return Ok(Some(m)),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("mosquitto did not start")))
    }

    fn start_with(bin: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("waymark-mosquitto-").tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(&config, config_text(port, dir.path()))?;
        let log = std::fs::File::create(dir.path().join("stderr.log"))?;
        let mut child = KillOnDrop(
            Command::new(bin)
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| format!("spawning {}", bin.display()))?,
        );
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(Self {
                    addr,
                    dir,
                    _child: child,
                });
            }
            if let Some(status) = child.0.try_wait()? {
                let log = std::fs::read_to_string(dir.path().join("mosquitto.log")).unwrap_or_default();
                anyhow::bail!("mosquitto exited with {status} before listening on {addr}: {log}");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "mosquitto not listening on {addr} within {START_TIMEOUT:?}"
            );
            // Not a wait for a result: the pause between two connection attempts.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The broker's own log (connections, dropped messages), for a failure message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }
}

fn config_text(port: u16, dir: &Path) -> String {
    // Started as root, Mosquitto drops to the `mosquitto` user, which cannot write
    // to our temp dir; `user root` keeps it as it was started.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    let user = if root { "user root\n" } else { "" };
    format!(
        "listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         persistence true\n\
         persistence_location {}/\n\
         max_queued_messages 0\n\
         log_dest file {}\n\
         log_type error\nlog_type warning\nlog_type notice\n\
         {user}",
        dir.display(),
        dir.join("mosquitto.log").display()
    )
}
