mod aftership;
mod aggregators_support;
mod easypost;
mod fedex;
mod karrio;
mod seventeen_track;
mod shippo;
mod ups;
mod waymark;

/// A NUL in any text field (JSON's `\u0000`) is refused with the event it
/// is in, instead of failing the store's insert for the whole batch.
#[test]
fn a_nul_character_in_a_text_field_is_refused() {
    let body = br#"{"events":[{"event_id":"e1","tracking_number":"T\u00001","carrier":"fleet","milestone":"in_transit","event_time":"2026-05-01T10:00:00Z"}]}"#;
    let err = super::normalize(crate::carriers::Provider::Waymark, body).expect_err("refused");
    assert!(err.to_string().contains("NUL"), "{err}");
    let fine = br#"{"events":[{"event_id":"e1","tracking_number":"T1","carrier":"fleet","milestone":"in_transit","event_time":"2026-05-01T10:00:00Z"}]}"#;
    assert_eq!(
        super::normalize(crate::carriers::Provider::Waymark, fine)
            .expect("decodes")
            .len(),
        1
    );
}
