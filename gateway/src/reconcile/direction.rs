//! Which way a tag went through a portal, from the order in which the antennas
//! facing inside and those facing outside saw it.

use serde::{Deserialize, Serialize};

/// A side of a portal, as configured per antenna.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Inside,
    Outside,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Outside to inside (into the building).
    Inbound,
    /// Inside to outside (out through the door, onto the trailer).
    Outbound,
    /// Both sides saw the tag with no clear order, or one side hardly saw it.
    Unknown,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
            Self::Unknown => "unknown",
        }
    }
}

/// Fewest reads each side must contribute before the order of sides means anything.
pub const MIN_READS_PER_SIDE: u64 = 2;

/// Infers the direction from reads in time order, each with the side that saw it
/// (`None`: an antenna on neither side). Counts, over every (inside, outside) pair of
/// reads, how often the inside read came first (the Mann-Whitney U statistic): a tag
/// carried out is seen inside early and outside late, so nearly every pair agrees;
/// one that lingers in the middle of the portal gives about half. `agreement` is the
/// share of pairs (above 0.5) needed to call a direction.
pub fn infer(reads: impl IntoIterator<Item = (i64, Option<Side>)>, agreement: f64) -> Direction {
    // Reads are taken a time at a time, so that simultaneous reads count as ties.
    let (mut inside, mut outside) = (0u64, 0u64);
    // Twice the number of (inside, outside) pairs in which inside came first; a tie counts half.
    let mut inside_first_x2 = 0u64;
    let mut group: Option<(i64, u64, u64)> = None;
    let mut settle = |(_, i, o): (i64, u64, u64), inside: &mut u64, outside: &mut u64| {
        inside_first_x2 += o * (2 * *inside + i);
        *inside += i;
        *outside += o;
    };
    for (time, side) in reads {
        let (i, o) = match side {
            Some(Side::Inside) => (1, 0),
            Some(Side::Outside) => (0, 1),
            None => continue,
        };
        match &mut group {
            Some((t, gi, go)) if *t == time => {
                *gi += i;
                *go += o;
            }
            _ => {
                if let Some(g) = group.replace((time, i, o)) {
                    settle(g, &mut inside, &mut outside);
                }
            }
        }
    }
    if let Some(g) = group {
        settle(g, &mut inside, &mut outside);
    }
    if inside < MIN_READS_PER_SIDE || outside < MIN_READS_PER_SIDE {
        return Direction::Unknown;
    }
    let share = inside_first_x2 as f64 / (2 * inside * outside) as f64;
    if share >= agreement {
        Direction::Outbound
    } else if share <= 1.0 - agreement {
        Direction::Inbound
    } else {
        Direction::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Side::{Inside as I, Outside as O};

    fn reads(sides: &[Side]) -> Vec<(i64, Option<Side>)> {
        sides.iter().enumerate().map(|(t, s)| (t as i64, Some(*s))).collect()
    }

    #[test]
    fn inside_then_outside_is_outbound_and_the_reverse_inbound() {
        assert_eq!(infer(reads(&[I, I, I, O, O, O]), 0.8), Direction::Outbound);
        assert_eq!(infer(reads(&[O, O, I, O, I, I]), 0.8), Direction::Inbound);
        // One stray early outside read does not flip a clear pass.
        assert_eq!(infer(reads(&[O, I, I, I, I, O, O, O, O]), 0.8), Direction::Outbound);
    }

    #[test]
    fn mixed_or_one_sided_passes_are_unknown() {
        assert_eq!(infer(reads(&[I, O, I, O, I, O]), 0.8), Direction::Unknown);
        assert_eq!(infer(reads(&[I, I, I, O]), 0.8), Direction::Unknown);
        assert_eq!(infer(std::iter::empty(), 0.8), Direction::Unknown);
        // Simultaneous reads on both sides say nothing about order.
        let same_time = [(5, Some(I)), (5, Some(O)), (5, Some(I)), (5, Some(O))];
        assert_eq!(infer(same_time, 0.8), Direction::Unknown);
    }

    #[test]
    fn antennas_on_no_side_are_ignored() {
        let r = [
            (0, Some(I)),
            (1, None),
            (2, Some(I)),
            (3, None),
            (4, Some(O)),
            (5, Some(O)),
        ];
        assert_eq!(infer(r, 0.8), Direction::Outbound);
    }
}
