//! Helpers shared by the macro benches.

pub mod fixture;
pub mod measure;
