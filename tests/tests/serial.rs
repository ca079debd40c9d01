//! A barcode scanner on a real serial line (a pty): framed codes mixed with noise,
//! exactly the valid ones recorded; the scanner is unplugged and replugged and
//! ingest resumes without restarting the gateway.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};
use waymark_tests::harness::{GatewaySpec, Harness, Node, metric};
use waymark_tests::pty::plug_scanner as plug;
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const TIMEOUT: Duration = Duration::from_secs(30);

async fn scanner_line(h: &Harness, gw: &Node) -> Option<Value> {
    let (_, s) = h
        .get_json(format!("http://{}/status", gw.ready.addr("ops").ok()?))
        .await
        .ok()?;
    s["devices"]
        .as_array()?
        .iter()
        .find(|d| d["id"] == "scanner-1")
        .cloned()
}

async fn wait_connected(h: &Harness, gw: &Node, up: bool) -> anyhow::Result<()> {
    wait::until(
        if up {
            "the scanner connected"
        } else {
            "the scanner seen unplugged"
        },
        TIMEOUT,
        || async { (scanner_line(h, gw).await?["connected"].as_bool()? == up).then_some(()) },
    )
    .await
}

#[tokio::test]
async fn scanner_noise_is_rejected_and_unplug_replug_resumes() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let link = h.path("scanner0");
    let spec = GatewaySpec {
        extra_devices: format!(
            "\n[[devices]]\nid = \"scanner-1\"\nkind = \"serial\"\npath = \"{}\"\nread_point = \"pack-station-1\"\nbusiness_step = \"packing\"\n",
            link.display()
        ),
        reconcile: "quiet_ms = 300\nlateness_ms = 100\n[[reconcile.read_points]]\nid = \"pack-station-1\"\ndevice = \"scanner-1\"\nbusiness_step = \"packing\"\nunmatched = \"record\"\n".into(),
        ..GatewaySpec::site("dc-north")
    };
    let mut scanner = plug(&link)?;
    let gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;
    wait_connected(&h, &gw, true).await?;

    let noise: [&[u8]; 7] = [
        b"\r\n",                        // an empty line: ignored
        b"]C100106141412345678908\r\n", // GS1-128 SSCC: valid
        b"\xff\xfe\xfd\r\n",            // not UTF-8
        b"]C100106141412345678907\r\n", // SSCC with a bad check digit
        b"]E04006381333931\r\n",        // EAN-13: valid
        &[b'A'; 5000],                  // a runaway frame past max_frame_len
        b"\r\n]C10010614141",           // cut off by the unplug below
    ];
    for bytes in noise {
        scanner.write_all(bytes)?;
    }
    scanner.flush()?;
    let ops = gw.ready.addr("ops")?;
    // Unplugging drops what the gateway has not read yet: wait until it has all.
    let written: usize = noise.iter().map(|b| b.len()).sum();
    wait::until("every byte read and the valid scans recorded", TIMEOUT, || async {
        let line = scanner_line(&h, &gw).await?;
        (line["bytes_total"].as_u64()? == written as u64 && line["reads_total"].as_u64()? == 2).then_some(())
    })
    .await?;

    drop(scanner); // unplug
    wait_connected(&h, &gw, false).await?;
    let mut scanner = plug(&link)?; // replug: a new tty behind the same path
    wait_connected(&h, &gw, true).await?;
    scanner.write_all(b"]C100006141410000000005\r\n")?;
    scanner.flush()?;

    let http = central.ready.addr("http")?;
    let events = wait::until("three scans at central", TIMEOUT, || async {
        let events = h.central_events(http, "dc-north").await.ok()?;
        (events.len() >= 3).then_some(events)
    })
    .await?;
    let ids: Vec<&str> = events
        .iter()
        .filter_map(|e| e["identifiers"][0]["value"].as_str())
        .collect();
    assert_eq!(ids, ["106141412345678908", "04006381333931", "006141410000000005"]);
    assert!(
        events
            .iter()
            .all(|e| e["business_step"] == "packing" && e["read_point"] == "pack-station-1")
    );

    let text = h.get_text(format!("http://{ops}/metrics")).await?;
    let rejected = |reason: &str| {
        metric(
            &text,
            "waymark_rejected_total",
            &[&format!("reason=\"{reason}\""), "device=\"scanner-1\""],
        )
    };
    assert_eq!(rejected("not_utf8"), 1.0, "{text}");
    assert!(rejected("invalid_gs1") >= 1.0, "{text}");
    assert_eq!(rejected("frame_too_long"), 1.0, "{text}");
    assert_eq!(rejected("unterminated_frame"), 1.0, "{text}");
    let (_, s) = h.get_json(format!("http://{ops}/status")).await?;
    assert_eq!(s["last_sequence"], json!(3), "{s}");
    Ok(())
}

#[tokio::test]
async fn devsim_scanner_writes_frames_the_gateway_decodes() -> anyhow::Result<()> {
    use std::io::Read;
    use waymark_tests::devsim::{self, Symbology};
    let pty = nix::pty::openpty(None, None)?;
    let slave = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&pty.slave)))?;
    let mut master = std::fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut framer = waymark_devices::serial::Framer::new(Default::default());
        let (mut ok, mut bad) = (Vec::new(), 0);
        let mut buf = [0u8; 1024];
        while ok.len() < 6 {
            let Ok(n) = master.read(&mut buf) else { break };
            for f in framer.push(&buf[..n]) {
                match f {
                    Ok(code) => ok.push((format!("{:?}", code.symbology), code.identifiers()[0].value.clone())),
                    Err(_) => bad += 1,
                }
            }
        }
        (ok, bad)
    });
    let ssccs = devsim::parcels(7, 3);
    let path = slave.display().to_string();
    devsim::scanner(&path, 9600, Symbology::Gs1_128, &ssccs, 200.0, 100.0, 1).await?;
    devsim::scanner(&path, 9600, Symbology::Qr, &ssccs, 200.0, 0.0, 1).await?;
    let (codes, noise) = reader.join().map_err(|_| anyhow::anyhow!("reader panicked"))?;
    drop(pty.slave);
    let expected: Vec<(String, String)> = ["Code128", "QrCode"]
        .iter()
        .flat_map(|sym| ssccs.iter().map(move |s| (sym.to_string(), s.clone())))
        .collect();
    assert_eq!(codes, expected);
    assert_eq!(noise, 3, "100% noise: one garbage line before each GS1-128 code");
    Ok(())
}

/// A pack-station scan is its event at once, and a label scanned three times in a row
/// is one event. The quiet interval and lateness here are ten minutes: an RFID stay
/// would not be decided within the test, so the events can only come from the scans.
#[tokio::test]
async fn a_label_scanned_three_times_in_a_row_is_one_event_at_once() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let link = h.path("scanner0");
    let spec = GatewaySpec {
        extra_devices: format!(
            "\n[[devices]]\nid = \"scanner-1\"\nkind = \"serial\"\npath = \"{}\"\nread_point = \"pack-station-1\"\nbusiness_step = \"packing\"\nrepeat_window_ms = 5000\n",
            link.display()
        ),
        reconcile: "quiet_ms = 600000\nlateness_ms = 600000\n[[reconcile.read_points]]\nid = \"pack-station-1\"\ndevice = \"scanner-1\"\nbusiness_step = \"packing\"\nunmatched = \"record\"\n".into(),
        ..GatewaySpec::site("dc-north")
    };
    let mut scanner = plug(&link)?;
    let gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;
    wait_connected(&h, &gw, true).await?;

    let label = b"]C100106141412345678908\r\n";
    for _ in 0..3 {
        scanner.write_all(label)?;
        scanner.flush()?;
    }
    scanner.write_all(b"]C100006141410000000005\r\n")?; // another parcel after them
    scanner.flush()?;

    let http = central.ready.addr("http")?;
    let events = wait::until("the scans at central", TIMEOUT, || async {
        let events = h.central_events(http, "dc-north").await.ok()?;
        (events.len() >= 2).then_some(events)
    })
    .await?;
    let ids: Vec<&str> = events
        .iter()
        .filter_map(|e| e["identifiers"][0]["value"].as_str())
        .collect();
    // The second parcel's event was recorded after the repeats were seen: none of them
    // can still be on its way.
    assert_eq!(ids, ["106141412345678908", "006141410000000005"], "{events:?}");
    let ops = gw.ready.addr("ops")?;
    let text = h.get_text(format!("http://{ops}/metrics")).await?;
    assert_eq!(metric(&text, "waymark_scans_repeated_total", &[]), 2.0, "{text}");
    let (_, s) = h.get_json(format!("http://{ops}/status")).await?;
    assert_eq!(s["last_sequence"], json!(2), "{s}");
    Ok(())
}
