//! Turns byte offsets in a scenario file into `file:line:col` locations for error messages.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based line and column (in characters) inside a named file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file the position is in.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
}

impl Location {
    /// Locate byte `offset` of `text`; an offset past the end points just after the last character.
    pub fn of(path: &Path, text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        let mut off = offset;
        while !text.is_char_boundary(off) {
            off -= 1;
        }
        let before = &text[..off];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = text[line_start..off].chars().count() + 1;
        Location {
            path: path.to_path_buf(),
            line,
            col,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_and_columns_are_one_based() {
        let t = "ab\ncdé\nf";
        let p = Path::new("x.toml");
        assert_eq!(Location::of(p, t, 0).to_string(), "x.toml:1:1");
        assert_eq!(Location::of(p, t, 3).to_string(), "x.toml:2:1");
        assert_eq!(Location::of(p, t, 5).to_string(), "x.toml:2:3");
        // é is two bytes; offset 6 is inside it and snaps back to its start
        assert_eq!(Location::of(p, t, 6).to_string(), "x.toml:2:3");
        assert_eq!(Location::of(p, t, 99).to_string(), "x.toml:3:2");
    }

    proptest! {
        #[test]
        fn never_panics(t in ".{0,200}", off in 0usize..400) {
            let l = Location::of(Path::new("f"), &t, off);
            prop_assert!(l.line >= 1 && l.col >= 1);
        }
    }
}
