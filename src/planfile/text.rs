//! Comment text in plan files: summaries, notes and lock targets live on single `--` lines, so
//! line breaks (possible in quoted identifiers) are escaped as `\n` / `\r` and a backslash as
//! `\\`. Text without those characters is written unchanged.

/// Makes `s` safe to put on one `--` comment line.
pub fn escape_comment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`escape_comment`]. An unknown escape is kept as written.
pub fn unescape_comment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in ["plain", "a\\b", "line\nbreak\r", "\\n literal", "end\\"] {
            assert_eq!(unescape_comment(&escape_comment(s)), s);
            assert!(!escape_comment(s).contains('\n'));
        }
    }
}
