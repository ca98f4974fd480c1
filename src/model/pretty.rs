//! The pretty `Debug` text (`{:#?}`) of a value, made from its compact `Debug` text (`{:?}`)
//! in one pass: what fingerprints and object digests hash (`model::canonical`).
//!
//! Why: `{:#?}` writes every piece through the standard library's `PadAdapter`, which scans
//! each write for line breaks to indent them; the compact form writes straight into the
//! buffer. At 5,000 tables the pretty printing of the canonical schema was most of a
//! fingerprint's ~0.5 s of client CPU, twice per `plan` (issue 9); compact printing plus this
//! pass costs about a third of it. The bytes must be exactly those of `{:#?}` (written plans'
//! fingerprints depend on them): debug builds check every text against `{:#?}` itself
//! ([`pretty`]), so the whole test suite compares the two on every schema it fingerprints.
//!
//! The two forms differ only in layout, and the layout follows from the structure, which the
//! compact text spells out unambiguously outside string and character literals (the
//! standard library's `debug_struct`, `debug_tuple`, `debug_list`, `debug_set` and
//! `debug_map` builders; the model's own `Debug` impls use them too):
//!
//! | value | compact | pretty |
//! |---|---|---|
//! | struct | `Name { a: 1, b: 2 }` | `Name {` / `    a: 1,` / `    b: 2,` / `}` |
//! | tuple, `Some(x)` | `Name(1, 2)`, `(1,)` | `Name(` / `    1,` / `    2,` / `)` |
//! | list | `[1, 2]` | `[` / `    1,` / `    2,` / `]` |
//! | set, map | `{1, 2}`, `{k: v}` | `{` / `    1,` / ... / `}` |
//! | empty | `Name`, `[]`, `{}`, `()` | the same |
//!
//! A struct's braces come with a space inside (`{ `, ` }`), a set's or map's without: an
//! entry never starts with a space. Literals are copied as they are (their escapes keep
//! quotes and line breaks out of the text).

use std::fmt::{self, Debug};

/// `{:#?}` of `value` appended to `buf` (writing to a `String` cannot fail).
pub fn pretty(value: &dyn Debug, buf: &mut String) {
    let start = buf.len();
    let mut compact = String::new();
    let _ = fmt::Write::write_fmt(&mut compact, format_args!("{value:?}"));
    expand(&compact, buf);
    debug_assert_eq!(
        &buf[start..],
        format!("{value:#?}"),
        "model::pretty: the pretty text made from the compact one is not `{{:#?}}`"
    );
}

/// What an open bracket of the compact text opened.
#[derive(Clone, Copy, PartialEq)]
enum Open {
    /// `Name { `: closed by ` }`.
    Struct,
    /// `{`, `[` or `(` (a set or map, a list, a tuple): closed by its bracket.
    Other,
}

/// Appends to `out` the pretty layout of `compact`, a compact `Debug` text (see the module
/// doc).
pub fn expand(compact: &str, out: &mut String) {
    let b = compact.as_bytes();
    out.reserve(compact.len() + compact.len() / 2);
    let mut stack: Vec<Open> = Vec::new();
    let mut copied = 0; // b[copied..i] is still to be copied
    let mut i = 0;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        (0..depth).for_each(|_| out.push_str("    "));
    };
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = end_of_literal(b, i, b'"');
                continue;
            }
            b'\'' => {
                i = end_of_literal(b, i, b'\'');
                continue;
            }
            b'{' | b'[' | b'(' => {
                let close = match b[i] {
                    b'{' => b'}',
                    b'[' => b']',
                    _ => b')',
                };
                if b.get(i + 1) == Some(&close) {
                    i += 2; // empty: as it is
                    continue;
                }
                out.push_str(&compact[copied..=i]);
                let is_struct = b[i] == b'{' && b.get(i + 1) == Some(&b' ');
                stack.push(if is_struct { Open::Struct } else { Open::Other });
                newline(out, stack.len());
                i += if is_struct { 2 } else { 1 };
                copied = i;
            }
            b',' if b.get(i + 1) == Some(&b' ') => {
                out.push_str(&compact[copied..i]);
                out.push(',');
                newline(out, stack.len());
                i += 2;
                copied = i;
            }
            // a one-element tuple's own comma, `(x,)`: the pretty layout puts one there anyway
            b',' if b.get(i + 1) == Some(&b')') => {
                out.push_str(&compact[copied..i]);
                i += 1;
                copied = i;
            }
            b' ' if b.get(i + 1) == Some(&b'}') && stack.last() == Some(&Open::Struct) => {
                out.push_str(&compact[copied..i]);
                stack.pop();
                out.push(',');
                newline(out, stack.len());
                out.push('}');
                i += 2;
                copied = i;
            }
            b'}' | b']' | b')' if !stack.is_empty() => {
                out.push_str(&compact[copied..i]);
                stack.pop();
                out.push(',');
                newline(out, stack.len());
                out.push(b[i] as char);
                i += 1;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&compact[copied..]);
}

/// The index just past the string or character literal that starts at `start` with `quote`
/// (a backslash escapes the byte after it; escapes longer than that, `\u{..}`, contain no
/// quote).
fn end_of_literal(b: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

#[cfg(test)]
#[allow(dead_code)] // the test types' fields are there to be printed
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn same(value: &dyn Debug) {
        let mut got = String::new();
        expand(&format!("{value:?}"), &mut got);
        assert_eq!(got, format!("{value:#?}"));
    }

    #[derive(Debug)]
    struct Inner {
        text: String,
        c: char,
        n: Option<i64>,
    }

    #[derive(Debug)]
    struct Unit;

    #[derive(Debug)]
    struct Pair(u8, String);

    #[derive(Debug)]
    enum Kind {
        Plain,
        Tuple(String),
        Named { a: Vec<u8>, b: () },
    }

    #[derive(Debug)]
    struct Outer {
        inner: Inner,
        list: Vec<Inner>,
        empty: Vec<u8>,
        map: BTreeMap<(String, String), Vec<String>>,
        set: BTreeSet<String>,
        one: (String,),
        unit: Unit,
        pair: Pair,
        kinds: Vec<Kind>,
        float: f64,
        nested: Option<Option<Box<Outer>>>,
    }

    fn tricky(s: &str) -> Inner {
        Inner {
            text: s.to_string(),
            c: '\'',
            n: Some(-3),
        }
    }

    /// Literals holding every character the layout looks at (braces, brackets, commas,
    /// `, `, ` }`, quotes of both kinds, backslashes, line breaks, non-ASCII) come out as
    /// `{:#?}` prints them, and so does every shape of value the builders make.
    #[test]
    fn expanded_compact_debug_is_pretty_debug() {
        let texts = [
            "",
            "plain",
            "a, b",
            "{ x }",
            " }",
            "(y,)",
            "[1, 2]",
            "\"quoted\" and 'single'",
            "back\\slash\\",
            "line\nbreak\ttab",
            "ünïcödé ✓",
            "CHECK ((a > 0) AND (b <> '{}'::text[]))",
        ];
        let mut map = BTreeMap::new();
        for t in texts {
            map.insert(
                (t.to_string(), "k".into()),
                vec![t.to_string(), String::new()],
            );
        }
        let leaf = Outer {
            inner: tricky("{"),
            list: texts.iter().map(|t| tricky(t)).collect(),
            empty: vec![],
            map: BTreeMap::new(),
            set: BTreeSet::new(),
            one: (String::new(),),
            unit: Unit,
            pair: Pair(0, "}".into()),
            kinds: vec![],
            float: 0.0,
            nested: None,
        };
        let outer = Outer {
            inner: tricky("a, b }"),
            list: vec![tricky("]"), tricky("\"")],
            empty: vec![],
            map,
            set: texts.iter().map(|t| t.to_string()).collect(),
            one: ("x, y".into(),),
            unit: Unit,
            pair: Pair(7, ", ".into()),
            kinds: vec![
                Kind::Plain,
                Kind::Tuple("(".into()),
                Kind::Named {
                    a: vec![1, 2],
                    b: (),
                },
            ],
            float: -1.5e-7,
            nested: Some(Some(Box::new(leaf))),
        };
        same(&outer);
        for t in texts {
            same(&t);
            same(&tricky(t));
            same(&vec![t]);
            same(&(t, t));
            same(&Some((t,)));
        }
        for c in ['\'', '"', '\\', '\n', '{', ',', ' ', 'é'] {
            same(&c);
            same(&(c, Some(c)));
        }
        same(&Unit);
        same(&Kind::Plain);
        same(&Vec::<u8>::new());
        same(&BTreeMap::<u8, u8>::new());
        same(&());
    }

    /// [`pretty`] appends after what the buffer holds.
    #[test]
    fn pretty_appends() {
        let mut buf = String::from("key: ");
        pretty(&tricky("x"), &mut buf);
        assert_eq!(buf, format!("key: {:#?}", tricky("x")));
    }
}
