//! Runs central and gateways as child processes (the `waymark-node` binary), each
//! on ports the OS picked, and talks to them over HTTP. Processes are killed when
//! their handle drops, so a failing test leaves nothing running. Requests to
//! central's `/api/` carry the admin token central wrote on its first start.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::pki::TestCa;

/// Where each program said it listens (its `... ready k=v ...` stdout line).
#[derive(Debug, Clone)]
pub struct Ready(Vec<(String, String)>);

impl Ready {
    pub fn addr(&self, key: &str) -> anyhow::Result<SocketAddr> {
        let v = self
            .0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .with_context(|| format!("ready line has no {key}"))?;
        Ok(v.parse()?)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A child process, killed (and reaped) when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// A Waymark program in a child process, killed on drop.
pub struct Node {
    child: KillOnDrop,
    pub ready: Ready,
    name: String,
}

impl Node {
    /// Starts `bin args...` and waits for its ready line on stdout.
    pub fn spawn(bin: &Path, args: &[String], name: &str, log: &Path) -> anyhow::Result<Self> {
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let mut child = KillOnDrop(
            Command::new(bin)
                .args(args)
                // The daemons' own default: rumqttd's per-publish spans, enabled at
                // info, cost the benchmarks a fifth of the gateway's CPU.
                .env("WAYMARK_LOG", "info,rumqttd=off")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(stderr)
                .spawn()
                .with_context(|| format!("spawning {}", bin.display()))?,
        );
        let stdout = child.0.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains(" ready ") {
                    tx.send(line).ok();
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(_) => {
                bail!("{name} did not report ready within 30 s; see {}", log.display());
            }
        };
        let pairs = line
            .split_whitespace()
            .filter_map(|w| w.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        Ok(Self {
            child,
            ready: Ready(pairs),
            name: name.to_string(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// SIGKILL: no drain, no goodbye, as in a power cut of the process.
    pub fn kill(&mut self) {
        self.child.0.kill().ok();
        self.child.0.wait().ok();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> anyhow::Result<()> {
        let pid = self.child.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let status = self.child.0.wait()?;
        if !status.success() {
            bail!("{} exited with {status}", self.name);
        }
        Ok(())
    }
}

/// One test's world: a temp dir, the node binary, an HTTP client.
pub struct Harness {
    pub dir: tempfile::TempDir,
    /// The site PKI central is given; gateways get certificates it issued.
    pub ca: TestCa,
    bin: PathBuf,
    /// Arguments before `gateway|sync ...` (the bench binary runs nodes as `bench node ...`).
    bin_prefix: Vec<String>,
    pub http: reqwest::Client,
    /// The bootstrap admin token of the last central started, sent to its API.
    api_token: std::sync::Mutex<Option<String>>,
    /// Central's PostgreSQL database when the suite runs on PostgreSQL
    /// (`WAYMARK_TEST_STORE=postgres`): made at the first start, kept across
    /// restarts, dropped with the harness.
    database: std::sync::Mutex<Option<waymark_sync::store::testing::TestDatabase>>,
    /// SQLite whatever `WAYMARK_TEST_STORE` says (a store seeded in process).
    sqlite_only: bool,
}

pub struct GatewaySpec {
    pub site_id: String,
    pub devices: Vec<(String, String)>,
    pub max_payload_bytes: usize,
    /// `Some(host:port)`: subscribe to that broker instead of running one.
    pub external_broker: Option<String>,
    /// Extra lines for the `[store]` section.
    pub store: String,
    /// Extra lines for the `[mqtt]` section.
    pub mqtt: String,
    /// Embedded mode: `mqtt.allow_anonymous`. On by default here (a development
    /// harness); security tests turn it off.
    pub allow_anonymous: bool,
    /// `(device id, password)`: the harness writes the password's hash into the
    /// device's `[[devices]]` entry (for `devices`; `extra_devices` use `password_hash`).
    pub passwords: Vec<(String, String)>,
    /// Certificate and key (PEM) for a TLS listener on a free port, reported as
    /// `mqtt_tls` in the ready line; the plaintext listener stays on.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// More `[[devices]]` tables, as TOML.
    pub extra_devices: String,
    /// The `[reconcile]` section's body, with any `[[reconcile.read_points]]`.
    pub reconcile: String,
    /// Lines for the `[replication]` section.
    pub replication: String,
    /// How the gateway gets its site certificate.
    pub credentials: Credentials,
    /// Names the gateway's data directory, config and log instead of the site
    /// id: a second gateway presenting the same site certificate (a clone).
    pub instance: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// The harness CA issues the site certificate (provisioning from an existing PKI).
    Provisioned,
    /// Nothing is provisioned: `waymark-gateway enroll` writes `<data_dir>/tls`.
    Enroll,
}

impl GatewaySpec {
    /// A site with a loading dock door and a pack station.
    pub fn site(site_id: &str) -> Self {
        Self {
            site_id: site_id.into(),
            devices: vec![("door-3".into(), "loading".into()), ("pack-1".into(), "packing".into())],
            max_payload_bytes: 16 * 1024,
            external_broker: None,
            store: String::new(),
            mqtt: String::new(),
            allow_anonymous: true,
            passwords: Vec::new(),
            tls: None,
            extra_devices: String::new(),
            // Short stays so tests do not wait: a stay closes 300 ms after its last read.
            reconcile: "quiet_ms = 300\nlateness_ms = 100\n".into(),
            credentials: Credentials::Provisioned,
            replication: String::new(),
            instance: None,
        }
    }

    /// Where this gateway's files go: its instance name, or its site id.
    pub fn name(&self) -> &str {
        self.instance.as_deref().unwrap_or(&self.site_id)
    }

    /// Gives `device` a password (the harness hashes it into the config).
    pub fn password(mut self, device: &str, password: &str) -> Self {
        self.passwords.push((device.into(), password.into()));
        self
    }

    /// Read points that record stays of unknown parcels instead of quarantining them:
    /// for tests about durability, which send tags no order names.
    pub fn recording_unmatched(mut self) -> Self {
        for (id, step) in &self.devices {
            self.reconcile.push_str(&format!(
                "\n[[reconcile.read_points]]\nid = \"dock-{id}\"\ndevice = \"{id}\"\nbusiness_step = \"{step}\"\nunmatched = \"record\"\n"
            ));
        }
        self
    }
}

impl Harness {
    pub fn new(bin: &str) -> anyhow::Result<Self> {
        Ok(Self {
            dir: tempfile::Builder::new().prefix("waymark-test-").tempdir()?,
            ca: TestCa::new("waymark test site CA")?,
            bin: PathBuf::from(bin),
            bin_prefix: Vec::new(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
            api_token: std::sync::Mutex::new(None),
            database: std::sync::Mutex::new(None),
            sqlite_only: false,
        })
    }

    /// Runs nodes as `bin PREFIX... gateway|sync ARGS...`.
    pub fn with_prefix(mut self, prefix: &[&str]) -> Self {
        self.bin_prefix = prefix.iter().map(|s| s.to_string()).collect();
        self
    }

    fn spawn(&self, args: &[String], name: &str, log: &str) -> anyhow::Result<Node> {
        let all: Vec<String> = self.bin_prefix.iter().chain(args).cloned().collect();
        Node::spawn(&self.bin, &all, name, &self.path(log))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs this harness's centrals on PostgreSQL whatever `WAYMARK_TEST_STORE`
    /// says (tests of several central processes on one store).
    pub fn with_postgres(self) -> anyhow::Result<Self> {
        *self.database.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(waymark_sync::store::testing::TestDatabase::create()?);
        Ok(self)
    }

    /// Runs this harness's centrals on SQLite in their data directory whatever
    /// `WAYMARK_TEST_STORE` says (a benchmark that seeds that store in process).
    pub fn with_sqlite(mut self) -> Self {
        self.sqlite_only = true;
        self
    }

    /// The store every central of this harness uses: `None` for SQLite in
    /// central's data directory; a PostgreSQL URL when the suite runs on
    /// PostgreSQL (one database per harness, so replicas share it).
    pub fn store_url(&self) -> anyhow::Result<Option<String>> {
        let mut db = self.database.lock().unwrap_or_else(|p| p.into_inner());
        if db.is_none() && (self.sqlite_only || !waymark_sync::store::testing::postgres_selected()) {
            return Ok(None);
        }
        if db.is_none() {
            *db = Some(waymark_sync::store::testing::TestDatabase::create()?);
        }
        Ok(db.as_ref().map(|d| d.url.clone()))
    }

    /// Backs up central's store (central stopped): its data directory, and on
    /// PostgreSQL its database.
    pub fn backup_central(&self, label: &str) -> anyhow::Result<()> {
        copy_dir(&self.path("central"), &self.path(&format!("central-{label}")))?;
        if let Some(db) = self.database.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            db.snapshot(label)?;
        }
        Ok(())
    }

    /// Puts back the backup `label` (central stopped).
    pub fn restore_central(&self, label: &str) -> anyhow::Result<()> {
        std::fs::remove_dir_all(self.path("central"))?;
        copy_dir(&self.path(&format!("central-{label}")), &self.path("central"))?;
        if let Some(db) = self.database.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            db.restore(label)?;
        }
        Ok(())
    }

    /// Starts central; `grpc` pins the gRPC port (for a restart), else port 0.
    pub fn start_central(&self, grpc: Option<SocketAddr>) -> anyhow::Result<Node> {
        self.start_central_in("central", grpc)
    }

    /// Starts a central process with its own data directory `name` on the
    /// harness's store (a second replica on PostgreSQL).
    pub fn start_central_in(&self, name: &str, grpc: Option<SocketAddr>) -> anyhow::Result<Node> {
        self.start_central_with(name, grpc, &[])
    }

    /// [`Harness::start_central_in`] with more command-line arguments (e.g.
    /// `--config FILE` for settings that have no flag).
    pub fn start_central_with(&self, name: &str, grpc: Option<SocketAddr>, extra: &[String]) -> anyhow::Result<Node> {
        let grpc = grpc.map_or_else(|| "127.0.0.1:0".to_string(), |a| a.to_string());
        let (ca_cert, ca_key) = self.ca.write(&self.path("pki"))?;
        let mut args = vec![
            "sync",
            "run",
            "--data-dir",
            &self.path(name).display().to_string(),
            "--grpc-listen",
            &grpc,
            "--http-listen",
            "127.0.0.1:0",
            "--ops-listen",
            "127.0.0.1:0",
            "--tls-ca-cert",
            &ca_cert.display().to_string(),
            "--tls-ca-key",
            &ca_key.display().to_string(),
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        if let Some(url) = self.store_url()? {
            args.extend(["--store-url".to_string(), url]);
        }
        args.extend(extra.iter().cloned());
        let node = self.spawn(&args, name, &format!("{name}.log"))?;
        let file = node
            .ready
            .get("admin_token_file")
            .context("central's ready line has no admin_token_file")?;
        // A second replica finds the admin token the first one created.
        if let Ok(token) = std::fs::read_to_string(file) {
            *self.api_token.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.trim().to_string());
        }
        Ok(node)
    }

    /// Central's admin API token, once central has started.
    pub fn api_token(&self) -> Option<String> {
        self.api_token.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A request; one to central's API (`/api/`) carries the admin token.
    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, url);
        match self.api_token() {
            Some(token) if url.contains("/api/") => req.bearer_auth(token),
            _ => req,
        }
    }

    /// Writes the gateway's config and starts it; `mqtt` pins the MQTT port.
    pub fn start_gateway(
        &self,
        spec: &GatewaySpec,
        central_grpc: SocketAddr,
        mqtt: Option<SocketAddr>,
    ) -> anyhow::Result<Node> {
        let config = self.write_gateway_config(spec, central_grpc, mqtt)?;
        if spec.credentials == Credentials::Enroll && !self.path(spec.name()).join("tls/site.crt").exists() {
            bail!(
                "gateway {} is not enrolled yet: call Harness::enroll first",
                spec.site_id
            );
        }
        let args = [
            "gateway".to_string(),
            "run".into(),
            "--config".into(),
            config.display().to_string(),
        ];
        self.spawn(&args, spec.name(), &format!("{}.log", spec.name()))
    }

    /// Runs `waymark-gateway enroll` for the gateway of `spec` with `token`; returns
    /// whether it succeeded and what it printed (stdout and stderr).
    pub fn enroll(
        &self,
        spec: &GatewaySpec,
        central_grpc: SocketAddr,
        token: &str,
        extra_args: &[&str],
    ) -> anyhow::Result<(bool, String)> {
        let config = self.write_gateway_config(spec, central_grpc, None)?;
        let args: Vec<String> = self
            .bin_prefix
            .iter()
            .cloned()
            .chain([
                "gateway".into(),
                "enroll".into(),
                "--config".into(),
                config.display().to_string(),
            ])
            .chain(extra_args.iter().map(|a| a.to_string()))
            .collect();
        let out = Command::new(&self.bin)
            .args(&args)
            .env("WAYMARK_ENROLL_TOKEN", token)
            .stdin(Stdio::null())
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((out.status.success(), text))
    }

    /// Writes the gateway's config file; `mqtt` pins the MQTT port.
    pub fn write_gateway_config(
        &self,
        spec: &GatewaySpec,
        central_grpc: SocketAddr,
        mqtt: Option<SocketAddr>,
    ) -> anyhow::Result<PathBuf> {
        let config = self.path(&format!("{}.toml", spec.name()));
        let mqtt = match &spec.external_broker {
            Some(broker) => format!("mode = \"external\"\nbroker = \"{broker}\""),
            None => {
                let mut m = format!(
                    "listen = \"{}\"\nallow_anonymous = {}\n",
                    mqtt.map_or_else(|| "127.0.0.1:0".to_string(), |a| a.to_string()),
                    spec.allow_anonymous
                );
                if let Some((cert, key)) = &spec.tls {
                    m.push_str(&format!(
                        "tls_listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
                        cert.display(),
                        key.display()
                    ));
                }
                m
            }
        };
        let tls = match spec.credentials {
            Credentials::Provisioned => {
                let dir = self.path(&format!("{}-tls", spec.site_id));
                if !dir.join("site.crt").exists() {
                    self.ca.write_site(&spec.site_id, &dir)?;
                }
                format!(
                    "ca_cert = \"{d}/ca.crt\"\ncert = \"{d}/site.crt\"\nkey = \"{d}/site.key\"\n",
                    d = dir.display()
                )
            }
            Credentials::Enroll => String::new(),
        };
        let mqtt = format!("{mqtt}\n{}", spec.mqtt);
        let mut text = format!(
            "site_id = \"{site}\"\ndata_dir = \"{dir}\"\n\n[mqtt]\n{mqtt}\nmax_payload_bytes = {max}\n\n\
             [central]\nendpoint = \"https://{central_grpc}\"\n{tls}status_interval_secs = 1\nreconnect_max_secs = 1\nkeepalive_secs = 1\n\n\
             [ops]\nlisten = \"127.0.0.1:0\"\n\n[store]\n{store}\n",
            store = spec.store,
            site = spec.site_id,
            dir = self.path(spec.name()).display(),
            max = spec.max_payload_bytes,
        );
        for (id, step) in &spec.devices {
            text.push_str(&format!(
                "\n[[devices]]\nid = \"{id}\"\nread_point = \"dock-{id}\"\nbusiness_step = \"{step}\"\n"
            ));
            if let Some((_, password)) = spec.passwords.iter().find(|(d, _)| d == id) {
                text.push_str(&format!("password_hash = \"{}\"\n", password_hash(password)?));
            }
        }
        text.push_str(&spec.extra_devices);
        text.push_str(&format!("\n[reconcile]\n{}", spec.reconcile));
        text.push_str(&format!("\n[replication]\n{}\n", spec.replication));
        std::fs::write(&config, text)?;
        Ok(config)
    }

    pub async fn get_json(&self, url: String) -> anyhow::Result<(u16, Value)> {
        let resp = self
            .request(reqwest::Method::GET, &url)
            .send()
            .await
            .with_context(|| url.clone())?;
        let code = resp.status().as_u16();
        Ok((code, resp.json().await.with_context(|| url)?))
    }

    pub async fn post_json(&self, url: String, body: &Value) -> anyhow::Result<(u16, Value)> {
        let resp = self
            .request(reqwest::Method::POST, &url)
            .json(body)
            .send()
            .await
            .with_context(|| url.clone())?;
        let code = resp.status().as_u16();
        Ok((code, resp.json().await.with_context(|| url)?))
    }

    /// A gateway's `/status`, or `None` while it does not answer.
    pub async fn status(&self, gw: &Node) -> Option<Value> {
        let (_, v) = self
            .get_json(format!("http://{}/status", gw.ready.addr("ops").ok()?))
            .await
            .ok()?;
        Some(v)
    }

    pub async fn get_text(&self, url: String) -> anyhow::Result<String> {
        Ok(self.request(reqwest::Method::GET, &url).send().await?.text().await?)
    }

    /// The Prometheus text of `node`'s ops port.
    pub async fn metrics_of(&self, node: &Node) -> anyhow::Result<String> {
        self.get_text(format!("http://{}/metrics", node.ready.addr("ops")?))
            .await
    }

    /// Every event central holds for a site, paging through the API.
    pub async fn central_events(&self, http: SocketAddr, site: &str) -> anyhow::Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let (code, page) = self
                .get_json(format!(
                    "http://{http}/api/v1/sites/{site}/events?after={after}&limit=5000"
                ))
                .await?;
            anyhow::ensure!(code == 200, "events page: {code} {page}");
            let events = page["events"].as_array().cloned().unwrap_or_default();
            if events.is_empty() {
                return Ok(all);
            }
            after = page["next_after"].as_u64().context("next_after")?;
            all.extend(events);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The argon2 PHC string for `password`, as `waymark-gateway hash-password` prints it.
pub fn password_hash(password: &str) -> anyhow::Result<String> {
    Ok(waymark_gateway::device_auth::hash_password(password.as_bytes())?)
}

/// The value of one Prometheus sample whose name and labels all appear in its line.
pub fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
