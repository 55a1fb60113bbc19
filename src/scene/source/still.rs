//! Pictures made once: an image file, a line of text, a colour.

use std::path::Path;

use ab_glyph::{Font, FontArc, PxScale, ScaleFont, point};

use super::{LayerSource, Picture};
use crate::capture::clock::CaptureTime;
use crate::media::scale::{PixelFormat, Planes};
use crate::scene::spec::{TextStyle, parse_rgb};

pub struct Still {
    format: PixelFormat,
    width: usize,
    height: usize,
    data: Vec<u8>,
    problem: Option<String>,
}

impl Still {
    fn rgba(width: usize, height: usize, data: Vec<u8>) -> Still {
        Still { format: PixelFormat::Rgba, width, height, data, problem: None }
    }

    fn missing(problem: String) -> Still {
        tracing::warn!("{problem}");
        Still { format: PixelFormat::Rgba, width: 0, height: 0, data: Vec::new(), problem: Some(problem) }
    }

    /// A PNG or JPEG, with its alpha.
    pub fn image(path: &Path) -> Still {
        match image::open(path) {
            Ok(decoded) => {
                let rgba = decoded.into_rgba8();
                let (width, height) = (rgba.width() as usize, rgba.height() as usize);
                Still::rgba(width, height, rgba.into_raw())
            }
            Err(error) => Still::missing(format!("image {}: {error}", path.display())),
        }
    }

    /// Opaque: a 2×2 I420 picture (the camera's RGB conversion) the scaler spreads over the layer.
    pub fn color(rgb: [u8; 3]) -> Still {
        let data = crate::capture::convert::rgb_to_i420(&rgb.repeat(4), 2, 2).unwrap_or_default();
        Still { format: PixelFormat::I420, width: 2, height: 2, data, problem: None }
    }

    /// The words in the style's face, size and colour, on transparency; one
    /// line per line of text. The picture is the text's own size.
    pub fn text(words: &str, style: &TextStyle) -> Still {
        let face = match &style.font {
            Some(path) => match std::fs::read(path).map_err(|e| e.to_string()).and_then(|bytes| FontArc::try_from_vec(bytes).map_err(|e| e.to_string())) {
                Ok(face) => face,
                Err(error) => return Still::missing(format!("font {}: {error}", path.display())),
            },
            None => FontArc::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).expect("the embedded face is a font"),
        };
        render_text(&face, words, style.size, parse_rgb(&style.color).unwrap_or([255, 255, 255]))
    }
}

fn render_text<F: Font>(font: &F, words: &str, size: f32, [r, g, b]: [u8; 3]) -> Still {
    let scaled = font.as_scaled(PxScale::from(size));
    let line_height = scaled.height() + scaled.line_gap();
    let mut glyphs = Vec::new();
    let mut width = 0f32;
    for (line_index, line) in words.lines().enumerate() {
        let baseline = scaled.ascent() + line_height * line_index as f32;
        let mut caret = 0f32;
        let mut previous = None;
        for ch in line.chars() {
            let id = scaled.glyph_id(ch);
            if let Some(previous) = previous {
                caret += scaled.kern(previous, id);
            }
            glyphs.push(id.with_scale_and_position(scaled.scale(), point(caret, baseline)));
            caret += scaled.h_advance(id);
            previous = Some(id);
        }
        width = width.max(caret);
    }
    let lines = words.lines().count().max(1);
    let (width, height) = ((width.ceil() as usize + 1).max(2).next_multiple_of(2), ((line_height * lines as f32).ceil() as usize).max(2).next_multiple_of(2));
    let mut rgba = vec![0u8; width * height * 4];
    for pixel in rgba.chunks_exact_mut(4) {
        pixel[..3].copy_from_slice(&[r, g, b]);
    }
    for glyph in glyphs {
        let Some(outlined) = font.outline_glyph(glyph) else { continue };
        let bounds = outlined.px_bounds();
        outlined.draw(|x, y, coverage| {
            let (px, py) = (bounds.min.x as i64 + i64::from(x), bounds.min.y as i64 + i64::from(y));
            if (0..width as i64).contains(&px) && (0..height as i64).contains(&py) {
                let alpha = &mut rgba[(py as usize * width + px as usize) * 4 + 3];
                *alpha = (*alpha).max((coverage.clamp(0.0, 1.0) * 255.0).round() as u8);
            }
        });
    }
    Still::rgba(width, height, rgba)
}

impl LayerSource for Still {
    fn update(&mut self, _now: CaptureTime, _size: (usize, usize)) {}

    fn picture(&self) -> Option<Picture<'_>> {
        (self.width > 0).then(|| Picture { planes: Planes::tight(self.format, &self.data, self.width, self.height), generation: 1, captured: None })
    }

    fn warning(&self) -> Option<String> {
        self.problem.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_opaque_where_the_glyphs_are_and_clear_around_them() {
        let still = Still::text("I", &TextStyle { size: 40.0, ..TextStyle::default() });
        let (w, h) = (still.width, still.height);
        assert!(h >= 40 && w < 40, "{w}x{h}");
        let alpha = |x: usize, y: usize| still.data[(y * w + x) * 4 + 3];
        let covered = (0..w * h).filter(|i| alpha(i % w, i / w) >= 128).count();
        assert!(covered > 40, "the stroke of an I is covered: {covered} pixels");
        assert_eq!(alpha(0, 0), 0, "the corner is clear");
        assert!(Still::text("x", &TextStyle { font: Some("/nonexistent.ttf".into()), ..TextStyle::default() }).warning().unwrap().contains("/nonexistent.ttf"));
    }

    #[test]
    fn a_missing_image_says_so_and_shows_nothing() {
        let still = Still::image(Path::new("/nonexistent/logo.png"));
        assert!(still.picture().is_none());
        assert!(still.warning().unwrap().contains("/nonexistent/logo.png"));
    }
}
