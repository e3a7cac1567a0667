//! Plain data types and their validation. Nothing here touches SQL.

pub mod client;
pub mod custom_field;
pub mod normalize;
pub mod org;
pub mod patch;
mod validate;

pub use client::*;
pub use custom_field::*;
pub use org::*;
pub use patch::Patch;
pub(crate) use validate::*;
