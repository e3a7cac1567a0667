//! Helpers of the funnel bench: the deals fixture and the run's metadata.

pub mod fixture;
pub mod sysinfo;
