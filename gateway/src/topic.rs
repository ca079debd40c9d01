//! The MQTT topic layout devices publish to: `waymark/<site>/<device>/reads`.

use crate::config::valid_id;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadTopic<'a> {
    pub site_id: &'a str,
    pub device_id: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("topic `{topic}` does not fit waymark/<site>/<device>/reads")]
pub struct TopicError {
    pub topic: String,
}

pub fn parse(topic: &str) -> Result<ReadTopic<'_>, TopicError> {
    let err = || TopicError {
        topic: topic.chars().take(200).collect(),
    };
    let mut parts = topic.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("waymark"), Some(site_id), Some(device_id), Some("reads"), None)
            if valid_id(site_id) && valid_id(device_id) =>
        {
            Ok(ReadTopic { site_id, device_id })
        }
        _ => Err(err()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_layout_only() {
        assert_eq!(
            parse("waymark/dc-1/door-3/reads"),
            Ok(ReadTopic {
                site_id: "dc-1",
                device_id: "door-3"
            })
        );
        for bad in [
            "",
            "waymark/dc-1/door-3",
            "waymark/dc-1/door-3/reads/extra",
            "waymark//door-3/reads",
            "other/dc-1/door-3/reads",
            "waymark/dc-1/Door 3/reads",
            "waymark/dc-1/door-3/status",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
