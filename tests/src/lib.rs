//! Full-stack test support: a harness that runs central and site gateways as
//! separate processes over real sockets, plus small clients (HTTP, MQTT) and
//! condition waits with deadlines instead of sleeps.

pub mod browser;
pub mod carrier_sim;
pub mod devsim;
pub mod harness;
pub mod mosquitto;
pub mod mqtt;
pub mod mqtt_raw;
pub mod mqtt_resend;
pub mod pki;
pub mod proxy;
pub mod pty;
pub mod wait;

use std::ffi::OsString;
use std::process::ExitCode;

/// `gateway ARGS...` or `sync ARGS...`: runs that program's CLI in this process.
/// Each calls the same library entry point as the shipped binary, so the harness's
/// child processes run exactly that code.
pub fn node_main(mut args: impl Iterator<Item = OsString>) -> ExitCode {
    let program = args.next().unwrap_or_default();
    match program.to_str() {
        Some("gateway") => waymark_gateway::cli::main(std::iter::once("waymark-gateway".into()).chain(args)),
        Some("sync") => waymark_sync::cli::main(std::iter::once("waymark-sync".into()).chain(args)),
        _ => {
            eprintln!("usage: waymark-node gateway|sync ARGS...");
            ExitCode::from(2)
        }
    }
}

/// Peak resident set size of a process, from /proc (Linux), in bytes.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// CPU seconds (user + system) a process has used so far, from /proc (Linux).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
