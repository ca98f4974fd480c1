//! Plan-time table sizes: what the planner knows about how much data a step will touch, and
//! the `--small-table` threshold under which a table needs no online dance.
//!
//! Owns [`TableSize`] (the answer of `Ctx::table_size`), parsing of PostgreSQL-style sizes
//! (`1MB`, `64kB`, `0`) and their rendering the way `pg_size_pretty` prints them (`48 kB`).
//! The facts themselves are read by the catalog (`model::Schema::sizes`).

use crate::model::QName;

/// Default `--small-table`: 1 MB (128 heap pages). Plain forms hold their lock while they scan
/// or build; on this kind of machine a 5-million-row table (~250 MB of heap) took 0.8 s for
/// SET NOT NULL, 0.9 s for a CHECK and 4.4 s for CREATE INDEX under lock, i.e. some 60 MB/s for
/// the slowest (an index build): 1 MB keeps even that under ~20 ms, inside the 50 ms budget for
/// index, FK, CHECK and NOT NULL steps (see docs/design.md, "Safe forms").
pub const DEFAULT_SMALL_TABLE: u64 = 1024 * 1024;

/// How big a table (or materialized view) was when the plan was made, as far as the choice
/// between a plain and an online form goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableSize {
    /// Created (or re-created) by this plan: empty when the step runs.
    CreatedInPlan,
    /// Existed with an empty heap (0 bytes) at plan time.
    Empty,
    /// Existed with rows, its heap at most the `--small-table` threshold.
    Small { bytes: u64 },
    /// Existed with a heap over the threshold.
    Large { bytes: u64 },
    /// Exists before the step but its size is not known (the inverse plan: the desired side
    /// of a plan has no size facts). Treated like [`TableSize::Large`].
    Unknown,
    /// A foreign table: it keeps no rows locally, so nothing is scanned, built or rewritten
    /// under its lock (PostgreSQL verifies neither NOT NULL nor CHECKs against the remote).
    Foreign,
}

impl TableSize {
    /// Classifies a size read from the catalog against the threshold (`0`: only empty tables
    /// count as small).
    pub fn of(bytes: Option<u64>, small_table: u64) -> TableSize {
        match bytes {
            None => TableSize::Unknown,
            Some(0) => TableSize::Empty,
            Some(bytes) if bytes <= small_table => TableSize::Small { bytes },
            Some(bytes) => TableSize::Large { bytes },
        }
    }

    /// Whether a step on the table may take the plain form (hold its lock while it scans or
    /// builds): the table is new, empty or small.
    pub fn is_small(self) -> bool {
        matches!(
            self,
            TableSize::CreatedInPlan
                | TableSize::Empty
                | TableSize::Small { .. }
                | TableSize::Foreign
        )
    }

    /// Whether the table existed with rows (so a new NOT NULL column needs values for them).
    pub fn has_rows(self) -> bool {
        !matches!(
            self,
            TableSize::CreatedInPlan | TableSize::Empty | TableSize::Foreign
        )
    }

    /// Why a step on an existing table was judged safe in its plain form, for the plan
    /// (`public.users was empty at plan time`); `None` for a table created by the plan (no
    /// note needed) and for large or unknown ones.
    pub fn note(self, table: &QName, small_table: u64) -> Option<String> {
        match self {
            TableSize::Empty => Some(format!("{table} was empty at plan time")),
            TableSize::Small { bytes } => Some(format!(
                "{table} was {} at plan time, within --small-table {}",
                pretty(bytes),
                setting(small_table)
            )),
            _ => None,
        }
    }
}

/// The assumption a [`TableSize::note`] states, read back from a plan file by `apply` (which
/// refuses to run the step when the table has grown past it since): the table as the note
/// names it (`schema.name`, unquoted) and the heap size up to which the plain form is still
/// right: the note's `--small-table`, or for a table that was empty the default threshold
/// (the note does not say which threshold the plan used). `None` for any other note.
pub fn note_assumption(note: &str) -> Option<(String, u64)> {
    if let Some(table) = note.strip_suffix(" was empty at plan time") {
        return Some((table.to_string(), DEFAULT_SMALL_TABLE));
    }
    let (head, threshold) = note.rsplit_once(" at plan time, within --small-table ")?;
    let (table, _) = head.rsplit_once(" was ")?;
    Some((table.to_string(), parse_size(threshold).ok()?))
}

/// Parses a PostgreSQL-style size: a number with an optional unit `B`, `kB`, `MB`, `GB`, `TB`
/// (1024-based, case-insensitive, `bytes` also accepted, a space allowed before the unit);
/// a bare number is bytes. Fractions are allowed with a unit (`1.5MB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        "tb" => 1 << 40,
        _ => {
            return Err(format!(
                "invalid size {text:?}: use a number with B, kB, MB, GB or TB (e.g. 1MB, 64kB, 0)"
            ))
        }
    };
    let bad = || format!("invalid size {text:?}: not a number");
    if number.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = number.parse::<u64>() {
        return n
            .checked_mul(factor)
            .ok_or_else(|| format!("invalid size {text:?}: too large"));
    }
    let f: f64 = number.parse().map_err(|_| bad())?;
    let bytes = (f * factor as f64).round();
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("invalid size {text:?}: too large"));
    }
    Ok(bytes as u64)
}

/// A size the way `pg_size_pretty` prints it: `512 bytes`, `48 kB`, `12 MB` (rounded half up,
/// the unit chosen so the number stays under 20 × 1024).
pub fn pretty(bytes: u64) -> String {
    const LIMIT: u64 = 10 * 1024;
    const LIMIT2: u64 = LIMIT * 2 - 1;
    if bytes < LIMIT {
        return format!("{bytes} bytes");
    }
    // one extra bit kept for rounding, as PostgreSQL does
    let mut size = bytes >> 9;
    for unit in ["kB", "MB", "GB", "TB"] {
        if size < LIMIT2 || unit == "TB" {
            return format!("{} {unit}", size.div_ceil(2));
        }
        size >>= 10;
    }
    unreachable!("the loop returns at TB")
}

/// A threshold the way a user writes it on the command line (`1MB`, `64kB`, `1000B`, `0`).
pub fn setting(bytes: u64) -> String {
    if bytes == 0 {
        return "0".to_string();
    }
    for (unit, factor) in [
        ("TB", 1u64 << 40),
        ("GB", 1 << 30),
        ("MB", 1 << 20),
        ("kB", 1 << 10),
    ] {
        if bytes.is_multiple_of(factor) {
            return format!("{}{unit}", bytes / factor);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_postgresql_settings() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("8192"), Ok(8192));
        assert_eq!(parse_size("64kB"), Ok(64 * 1024));
        assert_eq!(parse_size("1MB"), Ok(1 << 20));
        assert_eq!(parse_size(" 2 GB "), Ok(2 << 30));
        assert_eq!(parse_size("1TB"), Ok(1 << 40));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("100 bytes"), Ok(100));
        assert_eq!(parse_size("1mb"), Ok(1 << 20));
        assert_eq!(parse_size("1.5MB"), Ok(3 << 19));
    }

    #[test]
    fn bad_sizes_say_what_is_accepted() {
        for bad in ["", "MB", "1 XB", "-1MB", "1.2.3kB", "99999999999TB"] {
            assert!(parse_size(bad).is_err(), "{bad:?} parsed");
        }
        assert!(parse_size("1 XB").unwrap_err().contains("kB, MB"));
    }

    #[test]
    fn sizes_print_like_pg_size_pretty() {
        assert_eq!(pretty(0), "0 bytes");
        assert_eq!(pretty(8192), "8192 bytes");
        assert_eq!(pretty(10 * 1024), "10 kB");
        assert_eq!(pretty(49152), "48 kB");
        assert_eq!(pretty(1 << 20), "1024 kB");
        assert_eq!(pretty(20 * 1024 * 1024), "20 MB");
        assert_eq!(pretty(5 << 30), "5120 MB");
        assert_eq!(pretty(1536 * 1024 + 512), "1537 kB");
    }

    #[test]
    fn thresholds_print_as_they_are_written() {
        assert_eq!(setting(0), "0");
        assert_eq!(setting(1 << 20), "1MB");
        assert_eq!(setting(64 * 1024), "64kB");
        assert_eq!(setting(1000), "1000B");
        assert_eq!(parse_size(&setting(3 << 19)), Ok(3 << 19));
    }

    #[test]
    fn classification_against_the_threshold() {
        let mb = 1 << 20;
        assert_eq!(TableSize::of(None, mb), TableSize::Unknown);
        assert_eq!(TableSize::of(Some(0), 0), TableSize::Empty);
        assert_eq!(
            TableSize::of(Some(8192), 0),
            TableSize::Large { bytes: 8192 }
        );
        assert_eq!(TableSize::of(Some(mb), mb), TableSize::Small { bytes: mb });
        assert_eq!(
            TableSize::of(Some(mb + 8192), mb),
            TableSize::Large { bytes: mb + 8192 }
        );
        assert!(TableSize::CreatedInPlan.is_small() && !TableSize::Unknown.is_small());
        assert!(!TableSize::Empty.has_rows() && TableSize::Small { bytes: 1 }.has_rows());
        let t = QName::new("public".to_string(), "users".to_string());
        assert_eq!(
            TableSize::Empty.note(&t, mb).as_deref(),
            Some("public.users was empty at plan time")
        );
        assert_eq!(
            TableSize::Small { bytes: 49152 }.note(&t, mb).as_deref(),
            Some("public.users was 48 kB at plan time, within --small-table 1MB")
        );
        assert_eq!(TableSize::CreatedInPlan.note(&t, mb), None);
    }

    #[test]
    fn notes_read_back_as_the_assumption_apply_checks() {
        let t = QName::new("public".to_string(), "a was b".to_string());
        let small = TableSize::Small { bytes: 49152 }
            .note(&t, 64 << 10)
            .unwrap();
        assert_eq!(
            note_assumption(&small),
            Some(("public.a was b".to_string(), 64 << 10))
        );
        let empty = TableSize::Empty.note(&t, 0).unwrap();
        assert_eq!(
            note_assumption(&empty),
            Some(("public.a was b".to_string(), DEFAULT_SMALL_TABLE))
        );
        assert_eq!(
            note_assumption("scans the table without blocking reads or writes"),
            None
        );
    }
}
