//! `Patch<T>`: a field of an update that is either left alone or set.
//!
//! In JSON an absent field is [`Patch::Keep`]; a present one is [`Patch::Set`]. For nullable
//! fields use `Patch<Option<T>>`, where `null` clears the value.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A field of an update document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// Leave the stored value as it is.
    #[default]
    Keep,
    /// Replace the stored value.
    Set(T),
}

impl<T> Patch<T> {
    /// True when the field is left alone (used by serde to skip it).
    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }

    /// The new value if set, else `old`.
    pub fn or_keep(&self, old: T) -> T
    where
        T: Clone,
    {
        self.as_set().cloned().unwrap_or(old)
    }

    /// The new value, if any.
    pub fn as_set(&self) -> Option<&T> {
        match self {
            Patch::Keep => None,
            Patch::Set(v) => Some(v),
        }
    }
}

impl<T> From<T> for Patch<T> {
    fn from(v: T) -> Self {
        Patch::Set(v)
    }
}

impl<T: Serialize> Serialize for Patch<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Patch::Keep => s.serialize_none(),
            Patch::Set(v) => v.serialize(s),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Patch::Set)
    }
}
