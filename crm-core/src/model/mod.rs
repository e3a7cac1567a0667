//! Plain data types and their validation. Nothing here touches SQL.

pub mod activity;
pub mod automation;
pub mod client;
pub mod custom_field;
pub mod deal;
pub mod import;
pub mod merge;
pub mod normalize;
pub mod org;
pub mod outbox;
pub mod patch;
pub mod pipeline;
pub mod report;
mod report_svg;
mod validate;

pub use activity::*;
pub use automation::*;
pub use client::*;
pub use custom_field::*;
pub use deal::*;
pub use import::*;
pub use merge::*;
pub use org::*;
pub use outbox::*;
pub use patch::Patch;
pub use pipeline::*;
pub use report::*;
pub(crate) use validate::*;
