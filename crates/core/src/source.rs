//! Where dumps come from. A dump is a child process whose stdout is the data
//! and whose exit status is part of the data: EOF is not success until the
//! process exited 0 (restic's commandReader, rustic's ChildStdoutSource).

pub mod child;
pub mod engine;
pub mod locate;
pub mod mysql;
pub mod postgres;

pub use child::{ChildFailure, ChildStream};
