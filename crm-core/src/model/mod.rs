//! Plain data types and their validation. Nothing here touches SQL.

pub mod activity;
pub mod client;
pub mod custom_field;
pub mod deal;
pub mod normalize;
pub mod org;
pub mod patch;
pub mod pipeline;
mod validate;

pub use activity::*;
pub use client::*;
pub use custom_field::*;
pub use deal::*;
pub use org::*;
pub use patch::Patch;
pub use pipeline::*;
pub(crate) use validate::*;
