//! schemaplan: a desired-state schema tool for PostgreSQL.
//!
//! The pipeline (see `docs/design.md`): `source` reads schema files, `shadow` loads them into a
//! scratch database, `catalog` reads both sides into a `model::Schema`, `diff` compares them,
//! `plan` orders safe steps, `render` writes plan files, `planfile` reads them back and `exec`
//! applies them. `cli` wires the commands.

pub mod cachefile;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod db;
pub mod diff;
pub mod exec;
pub mod model;
pub mod plan;
pub mod planfile;
pub mod render;
pub mod shadow;
pub mod source;
pub mod timings;
pub mod workflow;
