pub mod pipeline;
pub mod replay;
pub mod store;
