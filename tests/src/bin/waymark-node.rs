//! Runs one Waymark program in a child process for the test harness:
//! `waymark-node gateway ARGS...` or `waymark-node sync ARGS...`. Each calls the
//! same library entry point as the shipped binary, so tests exercise that code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
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
