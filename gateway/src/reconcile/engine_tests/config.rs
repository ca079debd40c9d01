use std::collections::BTreeMap;

use crate::config::{DeviceConfig, DeviceKind};
use crate::reconcile::config::{ReconcileConfig, UnmatchedPolicy};
use crate::reconcile::direction::Side;
use crate::reconcile::milestones::Milestone;
use crate::reconcile::sim::DOOR_SCENARIO_CONFIG;

const EXAMPLE: &str = r#"
[reconcile]
quiet_ms = 2000
min_reads = 1
cross_read_window_ms = 3000
lateness_ms = 2000

[reconcile.prerequisites]
loaded = ["packed"]
staged = ["packed"]

[[reconcile.read_points]]
id = "pack-station-1"
device = "pack-1"
business_step = "packing"

[[reconcile.read_points]]
id = "dock-door-3"
device = "door-3"
business_step = "loading"
inbound_business_step = "returns_receiving"
inside = [1, 2]
outside = [3, 4]
adjacent = ["dock-door-4"]
min_reads = 3
min_duration_ms = 100

[[reconcile.read_points]]
id = "dock-door-4"
device = "door-34"
antennas = [1, 2, 3, 4]
business_step = "loading"

[[reconcile.read_points]]
id = "receiving-dock"
device = "door-34"
antennas = [5, 6]
business_step = "receiving"
"#;

#[derive(serde::Deserialize)]
struct Wrapper {
    reconcile: ReconcileConfig,
}

fn device(id: &str, read_point: &str, step: &str, disposition: &str) -> (String, DeviceConfig) {
    let d = DeviceConfig {
        id: id.into(),
        kind: DeviceKind::Generic,
        read_point: read_point.into(),
        business_step: step.into(),
        disposition: disposition.into(),
        serial: None,
        password_hash: None,
        hostname: None,
        repeat_window_ms: None,
    };
    (id.to_string(), d)
}

#[test]
fn the_example_embeds_in_a_gateway_table_and_validates() {
    let w: Wrapper = toml::from_str(EXAMPLE).expect("parses");
    let s = w.reconcile.validate().expect("valid");
    let door = s.read_point("dock-door-3").expect("door");
    assert!(door.is_portal());
    assert_eq!(
        (door.side(1), door.side(4), door.side(5)),
        (Some(Side::Inside), Some(Side::Outside), None)
    );
    assert_eq!(door.adjacent, ["dock-door-4"]);
    assert_eq!(
        s.read_point("dock-door-4").expect("door 4").adjacent,
        ["dock-door-3"],
        "adjacency is symmetric"
    );
    assert_eq!((door.hold_ms, door.disposition.as_str()), (3000, "in_transit"));
    assert_eq!(door.unmatched, UnmatchedPolicy::Quarantine);
    assert_eq!(
        s.read_point("receiving-dock").expect("dock").unmatched,
        UnmatchedPolicy::Record
    );
    assert_eq!(
        s.locate("door-34", Some(5)).map(|p| p.id.as_str()),
        Some("receiving-dock")
    );
    assert_eq!(s.locate("door-34", Some(2)).map(|p| p.id.as_str()), Some("dock-door-4"));
    assert!(s.locate("door-34", Some(9)).is_none() && s.locate("door-34", None).is_none());
    assert_eq!(s.locate("pack-1", None).map(|p| p.id.as_str()), Some("pack-station-1"));
    assert!(s.prerequisites[&Milestone::Staged].contains(Milestone::Packed));
    let scenario = ReconcileConfig::from_toml(DOOR_SCENARIO_CONFIG).and_then(ReconcileConfig::validate);
    assert!(scenario.is_ok(), "{scenario:?}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"
        quiet_ms = 5
        direction_agreement = 0.4
        [prerequisites]
        packed = ["loaded", "sorted"]
        teleported = []
        [[read_points]]
        id = "door"
        device = "d1"
        business_step = "flying"
        inside = [1, 2]
        outside = [2]
        adjacent = ["door", "nowhere"]
        unmatched = "ignore"
        [[read_points]]
        id = "door"
        device = "d1"
        antennas = [1]
        business_step = "packing"
        inbound_business_step = "receiving"
        [[read_points]]
        id = "half-portal"
        device = "d2"
        inside = [1]
        business_step = "loading"
    "#;
    let err = ReconcileConfig::from_toml(text)
        .and_then(ReconcileConfig::validate)
        .expect_err("invalid");
    let all = err.to_string();
    for needle in [
        "reconcile.quiet_ms",
        "reconcile.direction_agreement",
        "prerequisites.packed: `loaded` does not come before",
        "prerequisites.packed: `sorted` is not a milestone",
        "prerequisites.teleported",
        "read_points[0].business_step",
        "antenna 2 is both inside and outside",
        "`door` is the read point itself",
        "`nowhere` is not a configured read point",
        "read_points[0].unmatched",
        "read_points[1].id: `door` is listed twice",
        "antenna 1 of `d1` is already in read point `door`",
        "read_points[1].inbound_business_step: only for portals",
        "read_points[2]: a portal needs both",
    ] {
        assert!(all.contains(needle), "`{needle}` not reported in:\n{all}");
    }
    assert_eq!(err.problems.len(), 14, "{all}");
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    let err = ReconcileConfig::from_toml("quiet_msec = 5").expect_err("typo");
    assert!(err.to_string().contains("quiet_msec"), "{err}");
}

#[test]
fn registered_devices_without_a_read_point_get_their_own() {
    let devices = BTreeMap::from([
        device("door-3", "dock-door-3", "loading", "in_transit"),
        device("pack-1", "pack-station-1", "packing", "in_progress"),
    ]);
    let text = r#"
        [[read_points]]
        id = "dock-door-3"
        device = "door-3"
        business_step = "loading"
        inside = [1]
        outside = [2]
        [[read_points]]
        id = "ghost"
        device = "scanner-9"
        business_step = "packing"
    "#;
    let err = ReconcileConfig::from_toml(text)
        .and_then(|c| c.validate_for(&devices))
        .expect_err("unknown device");
    assert_eq!(err.problems.len(), 1, "{err}");
    assert!(
        err.problems[0].contains("`scanner-9` is not a registered device"),
        "{err}"
    );

    let valid = ReconcileConfig::from_toml(&text.replace("scanner-9", "pack-1"))
        .and_then(|c| c.validate_for(&devices))
        .expect("valid");
    assert!(
        valid.read_point("pack-station-1").is_none(),
        "pack-1 is mentioned: no default"
    );
    let none = ReconcileConfig::default().validate_for(&devices).expect("defaults");
    let pack = none.locate("pack-1", None).expect("default read point");
    assert_eq!(
        (pack.id.as_str(), pack.business_step.as_str()),
        ("pack-station-1", "packing")
    );
    assert_eq!(
        none.locate("door-3", Some(7)).map(|p| p.id.as_str()),
        Some("dock-door-3")
    );
}
