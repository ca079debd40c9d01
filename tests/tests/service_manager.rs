//! Readiness under systemd (`Type=notify` in deploy/systemd): each daemon sends
//! READY=1 on `$NOTIFY_SOCKET` once it is listening, and STOPPING=1 when SIGTERM
//! starts its drain. A socket bound here stands in for systemd's.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use waymark_tests::harness::{GatewaySpec, Harness, KillOnDrop};

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");

/// Runs `waymark-node ARGS`, stops it with SIGTERM once ready, and returns the
/// ready line and every notification it sent, in order.
fn notifications(h: &Harness, args: &[String], name: &str) -> anyhow::Result<(String, Vec<String>)> {
    let path = h.path(&format!("{name}-notify.sock"));
    let socket = UnixDatagram::bind(&path)?;
    socket.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut child = KillOnDrop(
        Command::new(NODE)
            .args(args)
            .env("NOTIFY_SOCKET", &path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(h.path(&format!("{name}.log")))?)
            .spawn()?,
    );
    let stdout = child.0.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains(" ready "))
        .with_context(|| format!("{name} exited before its ready line"))?;
    let mut sent = vec![receive(&socket, &path)?];
    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()?;
    sent.push(receive(&socket, &path)?);
    let status = child.0.wait()?;
    anyhow::ensure!(status.success(), "{name} exited with {status}");
    Ok((ready, sent))
}

fn receive(socket: &UnixDatagram, path: &Path) -> anyhow::Result<String> {
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .with_context(|| format!("nothing on {} within 30 s", path.display()))?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn both_daemons_tell_systemd_when_ready_and_when_stopping() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let data_dir = h.path("central").display().to_string();
    let central = [
        "sync",
        "run",
        "--insecure-plaintext",
        "--data-dir",
        &data_dir,
        "--grpc-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--ops-listen",
        "127.0.0.1:0",
    ]
    .map(String::from)
    .to_vec();
    // The gateway is ready once it listens, whether or not central answers.
    let config = h.write_gateway_config(&GatewaySpec::site("dc-north"), "127.0.0.1:9".parse()?, None)?;
    let gateway = ["gateway", "run", "--config", &config.display().to_string()]
        .map(String::from)
        .to_vec();

    for (name, args) in [("central", central), ("gateway", gateway)] {
        let (ready, sent) = notifications(&h, &args, name)?;
        assert_eq!(sent.len(), 2, "{name}: {sent:?}");
        assert!(sent[0].lines().any(|l| l == "READY=1"), "{name}: {sent:?}");
        assert!(
            sent[0].lines().any(|l| l == format!("STATUS={ready}")),
            "{name}: the status shown by systemctl is the ready line: {sent:?}"
        );
        assert_eq!(sent[1].trim_end(), "STOPPING=1", "{name}");
    }
    Ok(())
}
