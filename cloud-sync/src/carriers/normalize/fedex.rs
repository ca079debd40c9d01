//! Not written yet.

use super::DecodeError;
use crate::carriers::CarrierEvent;

pub fn normalize(_body: &[u8]) -> Result<Vec<CarrierEvent>, DecodeError> {
    Err(DecodeError::shape("", "this provider's normalizer is not written yet"))
}
