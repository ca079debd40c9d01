//! The benchmark harness at a tiny size, so that it keeps working: each scenario runs
//! to completion and prints its result row. No timing is asserted here; the numbers
//! that matter come from `--release` runs recorded in docs/BENCHMARKS.md.

use std::process::Command;

const BENCH: &str = env!("CARGO_BIN_EXE_bench");

fn run(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(BENCH).args(args).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "bench {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

#[test]
fn every_scenario_runs_and_reports() -> anyhow::Result<()> {
    for (args, row) in [
        (&["decode", "--reads", "2000"][..], "| decode"),
        (&["reconcile", "--reads", "2000"][..], "| reconcile"),
        (&["scan-latency", "--scans", "3", "--gap-ms", "0"][..], "| scan latency"),
        (
            &["catch-up", "--events", "500", "--gateway-cache-mb", "8"][..],
            "| catch-up",
        ),
        (
            &[
                "ingest",
                "--reads",
                "4000",
                "--publishers",
                "2",
                "--batch",
                "100",
                "--paced-rate",
                "2000",
                "--paced-secs",
                "1",
            ][..],
            "| ingest",
        ),
    ] {
        let out = run(args)?;
        assert!(
            out.lines().any(|l| l.starts_with(row)),
            "no result row from {args:?}:\n{out}"
        );
    }
    // The tracking page under wrk (Debian's `wrk`, which CI installs).
    if Command::new("wrk").arg("-v").output().is_err() {
        eprintln!("SKIPPED: bench tracking: wrk is not installed (apt-get install wrk)");
        return Ok(());
    }
    let args = [
        "tracking",
        "--orders",
        "200",
        "--links",
        "20",
        "--duration",
        "1s",
        "--warm-up",
        "1s",
        "--connections",
        "4",
    ];
    let out = run(&args)?;
    assert!(
        out.lines().any(|l| l.starts_with("| Tracking page")),
        "no result row from {args:?}:\n{out}"
    );
    Ok(())
}
