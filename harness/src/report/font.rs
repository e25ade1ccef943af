//! The TrueType font PNG plots draw their text with, found on the host at run time.
//!
//! plotters' own text rasteriser needs either fontconfig and system fonts (`ttf`) or a font
//! compiled in (`ab_glyph`); neither is guaranteed on CI and the repository ships no font file.
//! So charts lay text out with plotters' built-in estimate (which SVG output needs anyway: the
//! viewer draws SVG text), and the PNG backend draws glyphs itself with `ab_glyph` from a font
//! found here. Without one, PNGs are drawn without text and the SVGs remain the labelled copy.

use std::path::{Path, PathBuf};

/// Environment variable naming a `.ttf`/`.otf` file to use.
pub const FONT_ENV: &str = "FAASBED_FONT";

/// Common locations of a sans-serif TrueType font (Debian/Ubuntu, Fedora, Arch, macOS).
pub const CANDIDATES: [&str; 7] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

/// A loaded font and where it came from.
pub struct Font {
    /// The parsed font.
    pub font: ab_glyph::FontVec,
    /// Its file.
    pub path: PathBuf,
}

impl std::fmt::Debug for Font {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Font({})", self.path.display())
    }
}

/// Load the font at `path`, if it exists and parses.
pub fn load(path: &Path) -> Option<Font> {
    let bytes = std::fs::read(path).ok()?;
    let font = ab_glyph::FontVec::try_from_vec(bytes).ok()?;
    Some(Font {
        font,
        path: path.to_path_buf(),
    })
}

/// The font named by `$FAASBED_FONT`, else the first of [`CANDIDATES`] that loads.
pub fn find() -> Option<Font> {
    let env = std::env::var_os(FONT_ENV).map(PathBuf::from);
    env.into_iter()
        .chain(CANDIDATES.iter().map(PathBuf::from))
        .find_map(|p| load(&p))
}
