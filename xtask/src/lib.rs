//! The library half of xtask: [`dist`], the Debian package, shared by `cargo xtask dist` and
//! the end-to-end test that builds, inspects and installs it (`tests/e2e/dist.rs`), and
//! [`process`], running the tools the tasks call.
//!
//! Plain std only, like the tasks themselves.

pub mod dist;
pub mod process;
