//! The capabilities of [`crate::Crm`], one module each. Each takes an acting context, resolves
//! it to a plan, and calls the storage layer.

pub mod audit;
pub mod client_queries;
mod clients;
mod custom_fields;
mod org;
