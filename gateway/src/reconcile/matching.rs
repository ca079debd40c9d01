//! Who a stay is about: the identity read, the keys it can be matched under, and
//! the seam through which the caller says which order and parcel a key belongs to.

use serde::{Deserialize, Serialize};
use waymark_devices::IdentifierKind;

/// What a tag or barcode names, in a form the engine's state can store and restore.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identity {
    #[serde(with = "kind_name")]
    pub kind: IdentifierKind,
    pub value: String,
}

impl From<&waymark_devices::Identifier> for Identity {
    fn from(id: &waymark_devices::Identifier) -> Self {
        Self {
            kind: id.kind,
            value: id.value.clone(),
        }
    }
}

impl Identity {
    pub fn new(kind: IdentifierKind, value: impl Into<String>) -> Self {
        Self {
            kind,
            value: value.into(),
        }
    }

    pub fn to_device(&self) -> waymark_devices::Identifier {
        waymark_devices::Identifier {
            kind: self.kind,
            value: self.value.clone(),
        }
    }

    /// The identity itself, then the SSCC an SSCC-96 tag encodes: the tag on a pallet
    /// and the label on the same pallet are one parcel.
    pub fn match_keys(&self) -> Vec<Identity> {
        let mut keys = vec![self.clone()];
        if self.kind == IdentifierKind::Epc
            && self.value.starts_with("urn:epc:id:sscc:")
            && let Ok(epc) = waymark_devices::epc::parse_urn(&self.value, 0)
        {
            keys.push(Identity::new(IdentifierKind::Sscc, epc.gs1_key().value));
        }
        keys
    }
}

/// The parcel (and its order) a read was matched to. An empty `parcel_id` means the
/// identifier names the whole order (an order-number barcode).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ParcelRef {
    pub order_number: String,
    pub parcel_id: String,
}

impl ParcelRef {
    pub fn new(order_number: impl Into<String>, parcel_id: impl Into<String>) -> Self {
        Self {
            order_number: order_number.into(),
            parcel_id: parcel_id.into(),
        }
    }

    pub fn is_order_level(&self) -> bool {
        self.parcel_id.is_empty()
    }

    /// The order as a whole, which order-number scans advance.
    pub fn order_level(&self) -> Self {
        Self::new(self.order_number.clone(), "")
    }
}

/// What the site knows of one identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// It names a parcel (or an order) still to ship.
    Active(ParcelRef),
    /// It names a parcel of a shipment central cancelled: never matched, a read of it
    /// is an exception.
    Cancelled(ParcelRef),
    Unknown,
}

/// The orders the site holds, as the engine sees them. The store implements it over
/// its identifier indexes; tests use a map or a closure.
pub trait Matcher {
    fn lookup(&mut self, key: &Identity) -> Lookup;
}

/// A closure that knows only active parcels (no cancellations).
impl<F> Matcher for F
where
    F: FnMut(&Identity) -> Option<ParcelRef>,
{
    fn lookup(&mut self, key: &Identity) -> Lookup {
        self(key).map_or(Lookup::Unknown, Lookup::Active)
    }
}

/// A closure that answers with a full [`Lookup`], cancellations included.
pub struct LookupFn<F>(pub F);

impl<F> Matcher for LookupFn<F>
where
    F: FnMut(&Identity) -> Lookup,
{
    fn lookup(&mut self, key: &Identity) -> Lookup {
        (self.0)(key)
    }
}

/// What the identity's keys name: an active parcel under any key wins (a label moved
/// from a cancelled shipment to a new one ships again), then a cancelled one.
pub(crate) fn resolve(matcher: &mut dyn Matcher, identity: &Identity) -> Lookup {
    let mut found = Lookup::Unknown;
    for key in identity.match_keys() {
        match matcher.lookup(&key) {
            Lookup::Active(parcel) => return Lookup::Active(parcel),
            Lookup::Cancelled(parcel) if found == Lookup::Unknown => found = Lookup::Cancelled(parcel),
            Lookup::Cancelled(_) | Lookup::Unknown => {}
        }
    }
    found
}

/// `IdentifierKind` is serialized by its stable name (the devices crate does not derive
/// `Deserialize` for it).
mod kind_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use waymark_devices::IdentifierKind;

    const ALL: [IdentifierKind; 5] = [
        IdentifierKind::Sscc,
        IdentifierKind::Epc,
        IdentifierKind::TrackingNumber,
        IdentifierKind::OrderNumber,
        IdentifierKind::Barcode,
    ];

    pub fn serialize<S: Serializer>(kind: &IdentifierKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(kind.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<IdentifierKind, D::Error> {
        let name = String::deserialize(d)?;
        ALL.into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown identifier kind `{name}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sscc_tag_matches_under_its_sscc_too() {
        let tag = Identity::new(IdentifierKind::Epc, "urn:epc:id:sscc:0614141.1234567890");
        let keys: Vec<_> = tag.match_keys().into_iter().map(|k| k.value).collect();
        assert_eq!(keys, ["urn:epc:id:sscc:0614141.1234567890", "106141412345678908"]);
        let mut m = |k: &Identity| (k.value == "106141412345678908").then(|| ParcelRef::new("SO-1", "P-1"));
        assert_eq!(resolve(&mut m, &tag), Lookup::Active(ParcelRef::new("SO-1", "P-1")));
    }

    #[test]
    fn an_active_key_wins_over_a_cancelled_one() {
        let tag = Identity::new(IdentifierKind::Epc, "urn:epc:id:sscc:0614141.1234567890");
        let old = ParcelRef::new("SO-1", "P-1");
        let new = ParcelRef::new("SO-2", "P-1");
        let mut cancelled_tag = LookupFn(|k: &Identity| match k.kind {
            IdentifierKind::Epc => Lookup::Cancelled(old.clone()),
            _ => Lookup::Active(new.clone()),
        });
        assert_eq!(resolve(&mut cancelled_tag, &tag), Lookup::Active(new.clone()));
        let mut cancelled_sscc = LookupFn(|k: &Identity| match k.kind {
            IdentifierKind::Epc => Lookup::Unknown,
            _ => Lookup::Cancelled(old.clone()),
        });
        assert_eq!(resolve(&mut cancelled_sscc, &tag), Lookup::Cancelled(old.clone()));
        assert_eq!(resolve(&mut |_: &Identity| None, &tag), Lookup::Unknown);
    }

    #[test]
    fn identity_round_trips_through_json() {
        let id = Identity::new(IdentifierKind::TrackingNumber, "1Z999");
        let json = serde_json::to_string(&id).expect("serializes");
        assert_eq!(json, r#"{"kind":"tracking_number","value":"1Z999"}"#);
        assert_eq!(serde_json::from_str::<Identity>(&json).expect("parses"), id);
        assert!(serde_json::from_str::<Identity>(r#"{"kind":"nope","value":"x"}"#).is_err());
    }
}
