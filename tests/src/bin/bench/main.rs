//! Benchmarks, one command per scenario; results go to docs/BENCHMARKS.md by hand.
//!
//! `cargo run --release -p waymark-tests --bin bench -- catch-up [--events N]`
//! `cargo run --release -p waymark-tests --bin bench -- scan-latency [--scans N]`
//! `cargo run --release -p waymark-tests --bin bench -- status [--events N] [--recomputes N]`
//! `cargo run --release -p waymark-tests --bin bench -- orders-csv [--orders N] [--store sqlite|postgres]`
//! `cargo run --release -p waymark-tests --bin bench -- order-list [--orders N] [--store sqlite|postgres]`
//! `cargo run --release -p waymark-tests --bin bench -- carriers [--trackers N] [--concurrency C] [--store sqlite|postgres]`
//! `cargo run --release -p waymark-tests --bin bench -- tracking [--orders N] [--links L] [--duration 30s] [--warm-up 5s] [--connections C]`
//!
//! Programs run as child processes (this binary re-executed as `bench node ...`),
//! on ports the OS picks, over real sockets.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use waymark_gateway::store::{EventDraft, Store};
use waymark_proto::v1::{Event, EventKind, Identifier};
use waymark_tests::harness::{GatewaySpec, Harness};

#[derive(Debug, Parser)]
#[command(about = "Waymark benchmarks")]
struct Args {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// A gateway restarts with a backlog of N recorded events and replicates it
    /// to central (durable there). Reports time to ready, catch-up rate, peak RSS.
    CatchUp {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// The gateway's sled cache (store.cache_capacity_mb).
        #[arg(long, default_value_t = 32)]
        gateway_cache_mb: u64,
        /// Central's store; PostgreSQL at WAYMARK_TEST_PG (a database made for the run).
        #[arg(long, value_enum, default_value = "sqlite")]
        store: central::Engine,
    },
    /// Order timeline reads with N events in central's store (loaded and
    /// projected first): latency percentiles.
    Timeline {
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        #[arg(long, default_value_t = 2_000)]
        reads: usize,
        #[arg(long, value_enum, default_value = "sqlite")]
        store: central::Engine,
    },
    /// Decoding throughput on one core: batched Zebra payloads (500 reads each,
    /// as a portal batches them) through the gateway's decoder.
    Decode {
        #[arg(long, default_value_t = 1_000_000)]
        reads: u64,
    },
    /// Zebra tag data events over MQTT QoS 1 from several publishers into a
    /// gateway: reads/s through decode and durable recording, read-to-recorded
    /// latency, and the embedded broker's own pass-through for comparison.
    Ingest {
        #[arg(long, default_value_t = 1_000_000)]
        reads: u64,
        #[arg(long, default_value_t = 4)]
        publishers: usize,
        /// Reads per MQTT payload. The IoT Connector sends one event per message
        /// over MQTT unless batching is configured (it is off by default for MQTT
        /// endpoints); a batch holds up to 256,000 bytes, about 1,400 reads.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// Also run paced at this many reads/s to measure latency under load.
        #[arg(long, default_value_t = 20_000)]
        paced_rate: u64,
        #[arg(long, default_value_t = 10)]
        paced_secs: u64,
    },
    /// Reconciliation throughput on one core: portal passes (20-200 reads each, 2%
    /// cross-read by the next door, pack scans first) through the engine.
    Reconcile {
        #[arg(long, default_value_t = 1_000_000)]
        reads: u64,
    },
    /// Barcode scans on a serial line, one at a time: scan -> recorded at the
    /// gateway and scan -> in central's order timeline (p50, p99, max).
    ScanLatency {
        #[arg(long, default_value_t = 200)]
        scans: u64,
        /// Pause after each scan has shown at central, in milliseconds.
        #[arg(long, default_value_t = 20)]
        gap_ms: u64,
    },
    /// The status engine on one core: a parcel's status recomputed from N mixed,
    /// shuffled events of every source (p50, p99, max per recompute).
    Status {
        #[arg(long, default_value_t = 200)]
        events: usize,
        #[arg(long, default_value_t = 20_000)]
        recomputes: usize,
    },
    /// CSV order intake straight into central's store: orders/s for a new
    /// file and for the same file again.
    OrdersCsv {
        #[arg(long, default_value_t = 50_000)]
        orders: u64,
        #[arg(long, value_enum, default_value = "sqlite")]
        store: central::Engine,
    },
    /// Order list requests with N orders stored: latency percentiles by kind.
    OrderList {
        #[arg(long, default_value_t = 1_000_000)]
        orders: u64,
        #[arg(long, default_value_t = 2_100)]
        reads: usize,
        #[arg(long, value_enum, default_value = "sqlite")]
        store: central::Engine,
    },
    /// Carrier webhooks over HTTP into central: stored-and-acknowledged per
    /// second and acknowledgement latency; then normalization with status
    /// updates, in process.
    Carriers {
        #[arg(long, default_value_t = 5_000)]
        trackers: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, value_enum, default_value = "sqlite")]
        store: central::Engine,
        /// Central only receives and stores (its normalizer off).
        #[arg(long)]
        receive_only: bool,
    },
    /// Order pages through signed links under `wrk`, N orders on SQLite:
    /// seeding time, pages/s and latency percentiles.
    Tracking {
        #[arg(long, default_value_t = 1_000_000)]
        orders: u64,
        /// Signed links minted for random orders; wrk requests them at random.
        #[arg(long, default_value_t = 10_000)]
        links: usize,
        /// How long wrk runs, as wrk takes it (`30s`, `2m`).
        #[arg(long, default_value = "30s")]
        duration: String,
        /// wrk's run before the measured one (not reported but for a line).
        #[arg(long, default_value = "5s")]
        warm_up: String,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// wrk's threads (it shares the host's cores with central).
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Internal: run a program as a child process of a scenario.
    #[command(hide = true, trailing_var_arg = true)]
    Node {
        #[arg(allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.scenario {
        Scenario::Node { args } => waymark_tests::node_main(args.into_iter()),
        Scenario::CatchUp {
            events,
            gateway_cache_mb,
            store,
        } => report(run(catch_up(events, gateway_cache_mb, store))),
        Scenario::Timeline { events, reads, store } => report(central::timeline(store, events, reads)),
        Scenario::Decode { reads } => report(decode(reads)),
        Scenario::Reconcile { reads } => report(reconcile(reads)),
        Scenario::Status { events, recomputes } => report(status::run(events, recomputes)),
        Scenario::OrdersCsv { orders: n, store } => report(orders::csv_intake(store, n)),
        Scenario::OrderList {
            orders: n,
            reads,
            store,
        } => report(orders::list(store, n, reads)),
        Scenario::Carriers {
            trackers,
            concurrency,
            store,
            receive_only,
        } => report(run(carriers::run(carriers::Plan {
            trackers,
            concurrency,
            store,
            receive_only,
        }))),
        Scenario::Tracking {
            orders,
            links,
            duration,
            warm_up,
            connections,
            threads,
        } => report(run(tracking::run(tracking::Plan {
            orders,
            links,
            duration,
            warm_up,
            connections,
            threads,
        }))),
        Scenario::ScanLatency { scans, gap_ms } => report(run(scan::run(scan::Plan {
            scans,
            gap: Duration::from_millis(gap_ms),
        }))),
        Scenario::Ingest {
            reads,
            publishers,
            batch,
            paced_rate,
            paced_secs,
        } => report(run(ingest::run(ingest::Plan {
            reads,
            publishers,
            batch,
            paced_rate,
            paced_secs,
        }))),
    }
}

fn run<F: Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(f)
}

fn report(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn harness() -> anyhow::Result<Harness> {
    let me = std::env::current_exe()?;
    Ok(Harness::new(&me.display().to_string())?.with_prefix(&["node"]))
}

/// A realistic loading event, as the gateway would derive it from a portal read.
fn draft(i: u64) -> EventDraft {
    EventDraft(Event {
        event_id: format!("{:032x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        event_time_ms: 1_795_237_331_250 + i as i64,
        event_time_offset_minutes: 60,
        identifiers: vec![Identifier {
            kind: waymark_proto::IdentifierKind::Epc as i32,
            value: format!("urn:epc:id:sgtin:0614141.812345.{i}"),
        }],
        kind: EventKind::Observation as i32,
        read_point: "dock-door-3".into(),
        device_id: "door-3".into(),
        antenna: 2,
        business_step: "loading".into(),
        disposition: "in_transit".into(),
        read_count: 12,
        peak_rssi_dbm: Some(-52.5),
        ..Event::default()
    })
}

mod carriers;
mod central;
mod ingest;
mod orders;
mod scan;
mod status;
mod tracking;

fn reconcile(total: u64) -> anyhow::Result<()> {
    use waymark_gateway::reconcile::{Direction, Engine, Identity, sim};
    let parcels = sim::parcels_for_reads(total as usize);
    let scenario = sim::DoorScenario {
        parcels,
        cross_read_parcels: parcels / 50,
        direction: Some(Direction::Outbound),
        packed_first: true,
        seed: 1,
    };
    let prepared = sim::prepare(&scenario);
    let mut engine = Engine::new("dc-bench", sim::door_settings()?);
    let orders = &prepared.orders;
    let mut matcher = |k: &Identity| orders.get(&k.value).cloned();
    let started = Instant::now();
    let events = sim::feed(&mut engine, &prepared.reads, 100, &mut matcher);
    let secs = started.elapsed().as_secs_f64();
    let stats = engine.stats();
    println!(
        "{} reads of {parcels} parcels -> {} events ({} milestones, {} cross-reads suppressed) in {secs:.2} s on one thread",
        prepared.reads.len(),
        events.len(),
        stats.milestones,
        stats.cross_reads
    );
    println!(
        "| reconcile | {} reads | {:.0} reads/s |",
        prepared.reads.len(),
        prepared.reads.len() as f64 / secs
    );
    Ok(())
}

fn decode(total: u64) -> anyhow::Result<()> {
    use waymark_devices::sim::portal::{PassShape, pass};
    // Realistic payloads: portal passes of SSCC-96 tags, 500 reads to a batch.
    let mut rng = fastrand::Rng::with_seed(1);
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-21T14:00:00+01:00")?;
    let mut reads = Vec::new();
    for (i, sscc) in waymark_tests::devsim::parcels(1, 200).iter().enumerate() {
        let tag = waymark_tests::devsim::sscc_tag(sscc)?;
        reads.extend(pass(
            &tag,
            t0 + chrono::Duration::seconds(i as i64),
            &PassShape::default(),
            &mut rng,
        ));
    }
    let payloads: Vec<Vec<u8>> = reads
        .chunks(500)
        .map(|c| waymark_devices::sim::zebra_payload(c, waymark_devices::zebra::ZebraMode::Portal))
        .collect::<Result<_, _>>()?;
    let per_round: u64 = reads.len() as u64;
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    let rounds = total.div_ceil(per_round).max(1);
    let started = Instant::now();
    let mut decoded = 0u64;
    for _ in 0..rounds {
        for p in &payloads {
            decoded += waymark_devices::zebra::decode(p)?.len() as u64;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "decoded {decoded} reads from {} Zebra payloads ({:.0} bytes per read) in {secs:.2} s on one thread",
        payloads.len() as u64 * rounds,
        bytes as f64 / per_round as f64
    );
    println!(
        "| decode (zebra, 500/batch) | {decoded} reads | {:.0} reads/s | {:.1} MB/s |",
        decoded as f64 / secs,
        (bytes as u64 * rounds) as f64 / secs / 1e6
    );
    Ok(())
}

async fn catch_up(events: u64, gateway_cache_mb: u64, engine: central::Engine) -> anyhow::Result<()> {
    let h = match engine {
        central::Engine::Sqlite => harness()?,
        central::Engine::Postgres => harness()?.with_postgres()?,
    };
    let site = "dc-bench";
    let spec = GatewaySpec {
        store: format!("cache_capacity_mb = {gateway_cache_mb}\n"),
        ..GatewaySpec::site(site)
    };

    // Record the backlog through the gateway's own store, as the recorder would.
    let store_dir = h.path(site).join("store");
    let started = Instant::now();
    let backlog = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let store = Store::open(&store_dir, gateway_cache_mb << 20, u64::MAX)?;
        let mut i = 0;
        while i < events {
            let n = 4096.min(events - i);
            let drafts: Vec<_> = (i..i + n).map(draft).collect();
            store.record(site, &drafts, 1_795_237_331_250)?;
            i += n;
        }
        Ok(store.last_sequence())
    })
    .await??;
    let record_secs = started.elapsed().as_secs_f64();
    println!(
        "recorded {backlog} events durably in {record_secs:.1} s ({:.0} events/s, 4096 per commit)",
        backlog as f64 / record_secs
    );

    let central = h.start_central(None)?;
    let http = central.ready.addr("http")?;
    let ops = central.ready.addr("ops")?;
    println!("central on {}", central.ready.get("store").unwrap_or("?"));
    let started = Instant::now();
    let gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;
    let ready_secs = started.elapsed().as_secs_f64();
    println!("gateway ready to ingest {ready_secs:.2} s after start, with {backlog} events in its store");

    let started = Instant::now();
    let mut peak_rss = 0;
    let mut slowest_answer = Duration::ZERO;
    loop {
        peak_rss = peak_rss.max(waymark_tests::peak_rss_bytes(gw.pid()).unwrap_or(0));
        let asked = Instant::now();
        let (_, sites) = h.get_json(format!("http://{http}/api/v1/sites")).await?;
        slowest_answer = slowest_answer.max(asked.elapsed());
        let hwm = sites["sites"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["site_id"] == site))
            .and_then(|s| s["high_water_mark"].as_u64())
            .unwrap_or(0);
        if hwm >= backlog {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "catch-up stalled at {hwm}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let projected_secs = central::projection_caught_up(&h, ops, started).await?;
    println!(
        "timeline projection caught up {projected_secs:.2} s after the catch-up started: {:.0} events/s",
        backlog as f64 / projected_secs
    );
    println!(
        "cpu during the run: gateway {:.1} s, central {:.1} s",
        waymark_tests::cpu_seconds(gw.pid()).unwrap_or(0.0),
        waymark_tests::cpu_seconds(central.pid()).unwrap_or(0.0)
    );
    let central_rss = waymark_tests::peak_rss_bytes(central.pid()).context("central rss")?;
    println!(
        "caught up {backlog} events in {secs:.2} s: {:.0} events/s, durable at central",
        backlog as f64 / secs
    );
    println!(
        "slowest answer from central's /api/v1/sites during the catch-up: {:.0} ms",
        slowest_answer.as_secs_f64() * 1e3
    );
    println!(
        "peak RSS: gateway {:.1} MiB, central {:.1} MiB",
        peak_rss as f64 / (1 << 20) as f64,
        central_rss as f64 / (1 << 20) as f64
    );
    println!(
        "| catch-up ({engine:?}) | {backlog} events | {:.0} events/s | ready {ready_secs:.2} s | gateway peak RSS {:.1} MiB | central peak RSS {:.1} MiB | projected {:.0} events/s |",
        backlog as f64 / secs,
        peak_rss as f64 / (1 << 20) as f64,
        central_rss as f64 / (1 << 20) as f64,
        backlog as f64 / projected_secs
    );
    if let Some(url) = h.store_url()? {
        drop(central);
        let (rows, copy_secs) = central::raw_copy(&url, site)?;
        let raw = rows as f64 / copy_secs;
        println!(
            "raw bulk load of the same {rows} rows into a table like `events` (one binary COPY, one transaction): {copy_secs:.2} s, {raw:.0} rows/s"
        );
        println!(
            "| catch-up vs raw COPY (Postgres) | {:.0} events/s | raw {raw:.0} rows/s | ratio {:.2} |",
            backlog as f64 / secs,
            backlog as f64 / secs / raw
        );
    }
    Ok(())
}
