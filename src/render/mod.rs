//! Plan -> text: `plan.sql`, `inverse.sql`, `plan.json`, and SQL quoting (in `quote`, the one
//! place identifiers and literals are quoted).

pub mod quote;
