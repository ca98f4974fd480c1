//! A schema file's text and the mapping from byte offsets to 1-based line and character column.
//! A leading byte-order mark is dropped; `\r\n` line ends count as one line break.

use std::path::Path;

use super::error::Location;

/// The text of one file with its line starts, for turning byte offsets into positions.
pub(crate) struct SourceText<'a> {
    pub file: &'a Path,
    /// The SQL the statements are cut from: the file's text, psql meta-command lines blanked
    /// out with spaces (same byte offsets).
    pub text: &'a str,
    /// The file's text as written, for showing lines in diagnostics.
    original: &'a str,
    line_starts: Vec<usize>,
}

/// The text without a leading byte-order mark.
pub(crate) fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

impl<'a> SourceText<'a> {
    pub fn new(file: &'a Path, text: &'a str) -> Self {
        let text = without_bom(text);
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceText {
            file,
            text,
            original: text,
            line_starts,
        }
    }

    /// The same file, cutting statements from `code` (which has the original's byte offsets).
    pub fn with_code(self, code: &'a str) -> Self {
        debug_assert_eq!(code.len(), self.original.len());
        SourceText { text: code, ..self }
    }

    /// 1-based line and character column of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = self.floor_char_boundary(offset.min(self.original.len()));
        let line_index = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line_index];
        let col = self.original[start..offset].chars().count() + 1;
        (line_index + 1, col)
    }

    /// The text of 1-based line `line`, without its line break.
    pub fn line_text(&self, line: usize) -> &'a str {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |&next| next - 1);
        let text: &'a str = self.original;
        text[start..end].trim_end_matches('\r')
    }

    /// A diagnostic location for a byte offset.
    pub fn location(&self, offset: usize) -> Location {
        let (line, col) = self.position(offset);
        Location {
            file: self.file.to_path_buf(),
            line,
            col,
            source_line: self.line_text(line).to_string(),
        }
    }

    fn floor_char_boundary(&self, mut offset: usize) -> usize {
        while !self.original.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_character_columns() {
        let src = SourceText::new(Path::new("a.sql"), "ab\ncé d");
        assert_eq!(src.position(0), (1, 1));
        assert_eq!(src.position(3), (2, 1));
        assert_eq!(src.position(7), (2, 4));
        assert_eq!(src.line_text(2), "cé d");
    }

    #[test]
    fn crlf_and_bom_do_not_shift_positions() {
        let text = "\u{feff}x\r\ny";
        let src = SourceText::new(Path::new("a.sql"), text);
        assert_eq!(src.text, "x\r\ny");
        assert_eq!(src.position(3), (2, 1));
        assert_eq!(src.line_text(1), "x");
    }
}
