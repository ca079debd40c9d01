//! Device MQTT security over real sockets and a real gateway process: TLS with a
//! handshake timeout (an idle socket blocks nobody), per-device passwords, and
//! identity binding (a device publishes reads for itself only). Each refusal is
//! counted in `waymark_rejected_total{reason}`. See docs/SECURITY.md.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::TcpStream;
use waymark_tests::harness::{GatewaySpec, Harness, Node, metric};
use waymark_tests::mqtt_raw::{Login, RawDevice, TestPki};
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const TIMEOUT: Duration = Duration::from_secs(30);
const DOOR: &str = "waymark/dc-north/door-3/reads";
const PACK: &str = "waymark/dc-north/pack-1/reads";

fn read(n: u32) -> Vec<u8> {
    json!({ "id": format!("urn:epc:id:sgtin:0614141.812345.{n}"), "time": "2026-11-21T06:00:00Z" })
        .to_string()
        .into_bytes()
}

/// A secured site: TLS on, anonymous off, both devices with passwords.
/// Central and a gateway with the TLS device listener and device passwords.
struct SecuredSite {
    h: Harness,
    pki: TestPki,
    _central: Node,
    gw: Node,
    tls_addr: std::net::SocketAddr,
}

fn secured_site() -> anyhow::Result<SecuredSite> {
    let h = Harness::new(NODE)?;
    let pki = TestPki::generate(h.dir.path())?;
    let central = h.start_central(None)?;
    let gw = h.start_gateway(&secured(&pki), central.ready.addr("grpc")?, None)?;
    let tls_addr = gw.ready.addr("mqtt_tls")?;
    Ok(SecuredSite {
        h,
        pki,
        _central: central,
        gw,
        tls_addr,
    })
}

/// door-3, logged in with its password over TLS, and the CONNACK code.
async fn door_login(
    pki: &TestPki,
    tls_addr: std::net::SocketAddr,
) -> anyhow::Result<(RawDevice<tokio_rustls::client::TlsStream<TcpStream>>, u8)> {
    RawDevice::connect(pki.connect(tls_addr).await?, &login("door-3", "door-3 password")).await
}

fn secured(pki: &TestPki) -> GatewaySpec {
    GatewaySpec {
        allow_anonymous: false,
        tls: Some((pki.cert.clone(), pki.key.clone())),
        mqtt: "tls_handshake_timeout_secs = 1\n".into(),
        ..GatewaySpec::site("dc-north").recording_unmatched()
    }
    .password("door-3", "door-3 password")
    .password("pack-1", "pack-1 password")
}

fn login<'a>(user: &'a str, password: &'a str) -> Login<'a> {
    Login {
        client_id: user,
        username: Some(user),
        password: Some(password),
        ..Login::default()
    }
}

async fn rejected(h: &Harness, gw: &Node, reason: &str) -> f64 {
    let Ok(ops) = gw.ready.addr("ops") else { return 0.0 };
    let text = h.get_text(format!("http://{ops}/metrics")).await.unwrap_or_default();
    metric(&text, "waymark_rejected_total", &[&format!("reason=\"{reason}\"")])
}

async fn wait_rejected(h: &Harness, gw: &Node, reason: &str, n: f64) -> anyhow::Result<()> {
    wait::until(&format!("{n} `{reason}` rejections counted"), TIMEOUT, || async {
        (rejected(h, gw, reason).await >= n).then_some(())
    })
    .await
}

/// The gateway's recorded events, once `n` of them are there.
async fn wait_recorded(h: &Harness, gw: &Node, n: u64) -> anyhow::Result<u64> {
    wait::until(&format!("{n} events recorded"), TIMEOUT, || async {
        let last = h.status(gw).await?["last_sequence"].as_u64()?;
        (last >= n).then_some(last)
    })
    .await
}

/// Reads recorded per device (what ingest accepted), from `/status`.
async fn device_reads(h: &Harness, gw: &Node, id: &str) -> Option<u64> {
    let s = h.status(gw).await?;
    s["devices"].as_array()?.iter().find(|d| d["id"] == id)?["reads_total"].as_u64()
}

#[tokio::test]
async fn an_idle_connection_on_the_tls_port_does_not_stop_another_device() -> anyhow::Result<()> {
    let SecuredSite {
        h,
        pki,
        _central,
        gw,
        tls_addr,
    } = secured_site()?;

    // Connected, never says a word: no ClientHello.
    let mut idle = TcpStream::connect(tls_addr).await?;
    let started = Instant::now();
    let (mut door, code) = door_login(&pki, tls_addr).await?;
    assert_eq!(code, 0, "CONNACK accepted");
    door.publish(DOOR, &read(1)).await?;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "TLS connect and publish took {:?} beside an idle connection",
        started.elapsed()
    );
    assert_eq!(wait_recorded(&h, &gw, 1).await?, 1);

    // The idle socket is dropped at the handshake timeout, and counted.
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut idle, &mut byte),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(0) | Err(_))),
        "idle connection still open: {closed:?}"
    );
    wait_rejected(&h, &gw, "tls_handshake_timeout", 1.0).await?;
    Ok(())
}

#[tokio::test]
async fn correct_credentials_over_tls_are_recorded_in_both_mqtt_versions() -> anyhow::Result<()> {
    let SecuredSite {
        h,
        pki,
        _central,
        gw,
        tls_addr,
    } = secured_site()?;

    let (mut v311, code) = door_login(&pki, tls_addr).await?;
    assert_eq!(code, 0x00);
    v311.publish(DOOR, &read(1)).await?;
    let v5_login = Login {
        v5: true,
        ..login("pack-1", "pack-1 password")
    };
    let (mut v5, code) = RawDevice::connect(pki.connect(tls_addr).await?, &v5_login).await?;
    assert_eq!(code, 0x00);
    v5.publish(PACK, &read(2)).await?;
    assert_eq!(wait_recorded(&h, &gw, 2).await?, 2);
    assert_eq!(device_reads(&h, &gw, "door-3").await, Some(1));
    assert_eq!(device_reads(&h, &gw, "pack-1").await, Some(1));

    // A client that does not trust the gateway's certificate authority gets nowhere.
    let other_dir = h.path("other-ca");
    std::fs::create_dir_all(&other_dir)?;
    let other = TestPki::generate(&other_dir)?;
    assert!(
        other.connect(tls_addr).await.is_err(),
        "an untrusted certificate was accepted"
    );
    wait_rejected(&h, &gw, "tls_handshake_failed", 1.0).await?;
    Ok(())
}

#[tokio::test]
async fn wrong_credentials_record_nothing_and_are_counted() -> anyhow::Result<()> {
    let SecuredSite {
        h,
        pki,
        _central,
        gw,
        tls_addr,
    } = secured_site()?;
    let plain = gw.ready.addr("mqtt")?;

    // Wrong password, both versions: refused with the version's code, connection closed.
    let (mut d, code) = RawDevice::connect(pki.connect(tls_addr).await?, &login("door-3", "guess")).await?;
    assert_eq!(code, 0x04, "3.1.1: bad user name or password");
    assert!(d.closed_within(Duration::from_secs(5)).await);
    let v5 = Login {
        v5: true,
        ..login("door-3", "guess")
    };
    let (_, code) = RawDevice::connect(TcpStream::connect(plain).await?, &v5).await?;
    assert_eq!(code, 0x86, "5: bad user name or password");
    // A device that is not registered, and one without credentials.
    let (_, code) = RawDevice::connect(TcpStream::connect(plain).await?, &login("ghost", "x")).await?;
    assert_eq!(code, 0x04, "unknown ids get the same answer");
    let anonymous = Login {
        client_id: "door-3",
        ..Login::default()
    };
    let (_, code) = RawDevice::connect(TcpStream::connect(plain).await?, &anonymous).await?;
    assert_eq!(code, 0x05, "not authorized");

    // A refused device that publishes anyway (ignoring the CONNACK) records nothing.
    let (mut stubborn, code) = RawDevice::connect(TcpStream::connect(plain).await?, &login("door-3", "guess")).await?;
    assert_eq!(code, 0x04);
    stubborn.send_publish(DOOR, &read(666)).await.ok();

    wait_rejected(&h, &gw, "bad_credentials", 3.0).await?;
    wait_rejected(&h, &gw, "unknown_device", 1.0).await?;
    wait_rejected(&h, &gw, "anonymous_refused", 1.0).await?;
    let ops = gw.ready.addr("ops")?;
    let text = h.get_text(format!("http://{ops}/metrics")).await?;
    assert_eq!(
        metric(
            &text,
            "waymark_rejected_total",
            &["reason=\"bad_credentials\"", "device=\"door-3\""]
        ),
        3.0,
        "{text}"
    );

    // Nothing of theirs was recorded: the next event is the legitimate one.
    let (mut door, code) = door_login(&pki, tls_addr).await?;
    assert_eq!(code, 0);
    door.publish(DOOR, &read(1)).await?;
    assert_eq!(wait_recorded(&h, &gw, 1).await?, 1);
    assert_eq!(device_reads(&h, &gw, "door-3").await, Some(1));
    Ok(())
}

#[tokio::test]
async fn a_device_cannot_publish_reads_for_another_device() -> anyhow::Result<()> {
    let SecuredSite {
        h,
        pki,
        _central,
        gw,
        tls_addr,
    } = secured_site()?;

    // door-3, authenticated, publishes its own read, then one under pack-1's topic.
    let (mut door, code) = door_login(&pki, tls_addr).await?;
    assert_eq!(code, 0);
    door.publish(DOOR, &read(1)).await?;
    door.send_publish(PACK, &read(2)).await?;
    assert!(
        door.closed_within(Duration::from_secs(5)).await,
        "the connection stays open after a publish for another device"
    );
    wait_rejected(&h, &gw, "device_mismatch", 1.0).await?;

    // A will message for another device is refused at CONNECT.
    let will = Login {
        will_topic: Some(PACK),
        ..login("door-3", "door-3 password")
    };
    let (_, code) = RawDevice::connect(pki.connect(tls_addr).await?, &will).await?;
    assert_eq!(code, 0x05, "not authorized");
    wait_rejected(&h, &gw, "device_mismatch", 2.0).await?;

    // pack-1 publishes its own read: recorded; door-3's forged one never was.
    let (mut pack, code) =
        RawDevice::connect(pki.connect(tls_addr).await?, &login("pack-1", "pack-1 password")).await?;
    assert_eq!(code, 0);
    pack.publish(PACK, &read(3)).await?;
    assert_eq!(wait_recorded(&h, &gw, 2).await?, 2);
    assert_eq!(device_reads(&h, &gw, "door-3").await, Some(1));
    assert_eq!(
        device_reads(&h, &gw, "pack-1").await,
        Some(1),
        "the forged read was not recorded"
    );
    let text = h.metrics_of(&gw).await?;
    assert_eq!(
        metric(
            &text,
            "waymark_rejected_total",
            &["reason=\"device_mismatch\"", "device=\"door-3\""]
        ),
        2.0,
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn a_device_may_subscribe_to_its_own_topics_only() -> anyhow::Result<()> {
    let SecuredSite {
        h,
        pki,
        _central,
        gw,
        tls_addr,
    } = secured_site()?;

    // Its own command topic: granted (QoS 1).
    let (mut door, code) = door_login(&pki, tls_addr).await?;
    assert_eq!(code, 0);
    assert_eq!(door.subscribe("waymark/dc-north/door-3/cmd").await?, 1);

    // Every other device's reads, or another device's topics: refused and counted.
    for filter in ["#", "waymark/+/+/reads", "waymark/dc-north/pack-1/reads"] {
        let (mut door, _) = door_login(&pki, tls_addr).await?;
        assert!(door.subscribe(filter).await.is_err(), "{filter} must not be granted");
    }
    wait_rejected(&h, &gw, "subscribe_refused", 3.0).await?;
    Ok(())
}
