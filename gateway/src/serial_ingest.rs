//! Serial scanner ingest: one task per configured port. Bytes go through the
//! device's framer; every frame becomes a read or a counted rejection. When the
//! scanner is unplugged (read error or end of stream) the task closes the port and
//! reopens the path with backoff, so a replugged scanner resumes by itself.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_serial::SerialPortBuilderExt;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use waymark_devices::serial::Framer;

use crate::backoff::Backoff;
use crate::config::{DeviceConfig, SerialPortConfig};
use crate::ingest::Ingest;
use crate::metrics::DeviceLabel;
use crate::stage::StageInput;

pub async fn run(
    ingest: Arc<Ingest>,
    device: DeviceConfig,
    out: mpsc::Sender<StageInput>,
    shutdown: CancellationToken,
) {
    let Some(port) = device.serial.clone() else { return };
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let mut warned = false;
    while !shutdown.is_cancelled() {
        match tokio_serial::new(port.path.to_string_lossy(), port.baud).open_native_async() {
            Ok(stream) => {
                set_connected(&ingest, &device, true);
                info!(path = %port.path.display(), baud = port.baud, "scanner connected");
                backoff.reset();
                warned = false;
                let ended = read_frames(&ingest, &device, &port, stream, &out, &shutdown).await;
                set_connected(&ingest, &device, false);
                match ended {
                    Ended::Shutdown => return,
                    Ended::Unplugged(why) => {
                        warn!(path = %port.path.display(), %why, "scanner disconnected; reopening")
                    }
                }
            }
            // Say it once per outage, not on every retry.
            Err(e) if !warned => {
                warned = true;
                warn!(path = %port.path.display(), error = %e, "scanner port not available; retrying");
            }
            Err(e) => debug!(path = %port.path.display(), error = %e, "scanner port still not available"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

enum Ended {
    Shutdown,
    Unplugged(String),
}

async fn read_frames(
    ingest: &Ingest,
    device: &DeviceConfig,
    port: &SerialPortConfig,
    mut stream: tokio_serial::SerialStream,
    out: &mpsc::Sender<StageInput>,
    shutdown: &CancellationToken,
) -> Ended {
    let mut framer = Framer::new(port.framing.clone());
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::select! {
            () = shutdown.cancelled() => return Ended::Shutdown,
            r = stream.read(&mut buf) => match r {
                Ok(0) => return unplugged(ingest, device, &framer, "end of stream".into()),
                Ok(n) => n,
                Err(e) => return unplugged(ingest, device, &framer, e.to_string()),
            },
        };
        ingest.board.received_bytes(&device.id, n);
        let mut reads = Vec::new();
        for frame in framer.push(&buf[..n]) {
            match frame {
                Ok(code) => reads.extend(code.to_read()),
                Err(e) => {
                    ingest.metrics.reject(e.reason(), Some(&device.id));
                    ingest.board.rejected(&device.id);
                    warn!(device = %device.id, reason = e.reason(), error = %e, "scan rejected");
                }
            }
        }
        if reads.is_empty() {
            continue;
        }
        ingest.accepted(&device.id, reads.len());
        if out.send(StageInput::new(&device.id, reads, None)).await.is_err() {
            return Ended::Shutdown;
        }
    }
}

/// A frame cut off by the unplug is counted, not silently dropped.
fn unplugged(ingest: &Ingest, device: &DeviceConfig, framer: &Framer, why: String) -> Ended {
    if framer.pending() > 0 {
        ingest.metrics.reject("unterminated_frame", Some(&device.id));
        ingest.board.rejected(&device.id);
    }
    Ended::Unplugged(why)
}

fn set_connected(ingest: &Ingest, device: &DeviceConfig, up: bool) {
    ingest.board.connected(&device.id, up);
    ingest
        .metrics
        .device_connected
        .get_or_create(&DeviceLabel {
            device: device.id.clone(),
        })
        .set(i64::from(up));
}
