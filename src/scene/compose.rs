//! Draws a scene onto an I420 canvas: each visible layer's source, cropped
//! and scaled to its rectangle (libswscale), then copied or blended over
//! what is below it. Sources are shared by the layers that show the same
//! thing and kept across scene changes; a scaled still is scaled once.

use std::collections::{HashMap, HashSet};

use super::source::{self, LayerSource, SourceKey};
use super::spec::{Crop, Layer, Scene};
use crate::capture::clock::{CaptureClock, CaptureTime};
use crate::media::scale::{PixelFormat, Planes, Scaler, convert_bgrx};
use crate::media::stamp;

/// A layer's place on the canvas, in even pixels so chroma lines up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x: i64,
    pub y: i64,
    pub width: usize,
    pub height: usize,
}

impl Rect {
    /// The layer's rectangle: its own size, else its picture's (an image, a text), else the canvas.
    pub fn of(layer: &Layer, natural: Option<(usize, usize)>, canvas: (usize, usize)) -> Rect {
        let natural = natural.filter(|_| matches!(layer.source, super::spec::SourceSpec::Image(_) | super::spec::SourceSpec::Text(_)));
        let (default_w, default_h) = natural.unwrap_or(canvas);
        let width = layer.width.map_or(default_w, |w| w as usize);
        let height = layer.height.map_or(default_h, |h| h as usize);
        Rect { x: i64::from(layer.x) & !1, y: i64::from(layer.y) & !1, width: (width.max(2) + 1) & !1, height: (height.max(2) + 1) & !1 }
    }
}

/// A source scaled to one rectangle, kept while it is drawn.
struct Placed {
    scaler: Scaler,
    pixels: Vec<u8>,
    generation: Option<u64>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct PlacedKey {
    source: SourceKey,
    width: usize,
    height: usize,
    crop: Crop,
}

pub struct Compositor {
    width: usize,
    height: usize,
    fps: u32,
    clock: CaptureClock,
    sources: HashMap<SourceKey, Box<dyn LayerSource>>,
    placed: HashMap<PlacedKey, Placed>,
    /// The second canvas a fade draws the outgoing scene on.
    under: Vec<u8>,
}

/// What one composed frame drew.
pub struct Composed {
    /// The capture time of the newest live layer's picture.
    pub newest_capture: Option<CaptureTime>,
    /// Layers whose source has a problem: (layer label, why).
    pub warnings: Vec<(String, String)>,
}

impl Compositor {
    pub fn new(width: usize, height: usize, fps: u32, clock: CaptureClock) -> Compositor {
        Compositor { width, height, fps, clock, sources: HashMap::new(), placed: HashMap::new(), under: Vec::new() }
    }

    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    pub fn set_output(&mut self, width: usize, height: usize, fps: u32) {
        (self.width, self.height) = (width.max(16) & !1, height.max(16) & !1);
        if fps != self.fps {
            // The test pattern paces its flash by the rate.
            self.sources.retain(|key, _| !key.spec.is_live());
            self.fps = fps;
        }
        self.placed.clear();
    }

    /// Draws `scene` (and, during a fade, `from` under it at `1 - progress`)
    /// into `canvas`, resized to the output's I420 size.
    pub fn compose(&mut self, scene: &Scene, fade_from: Option<(&Scene, f32)>, now: CaptureTime, canvas: &mut Vec<u8>) -> Composed {
        let size = PixelFormat::I420.size(self.width, self.height);
        canvas.resize(size, 0);
        let mut used_sources = HashSet::new();
        let mut used_placed = HashSet::new();
        let mut composed = Composed { newest_capture: None, warnings: Vec::new() };
        // Each live source captures once a frame, whatever number of layers shows it.
        let scenes: Vec<&Scene> = fade_from.map(|(from, _)| from).into_iter().chain([scene]).collect();
        for layer in scenes.iter().flat_map(|s| s.layers.iter()).filter(|l| l.visible) {
            let key = SourceKey::of(layer);
            if used_sources.insert(key.clone()) {
                let (fps, clock) = (self.fps, self.clock);
                let source = self.sources.entry(key).or_insert_with(|| source::open(layer, fps, clock));
                let natural = source.picture().map(|p| (p.planes.width, p.planes.height));
                let rect = Rect::of(layer, natural, (self.width, self.height));
                source.update(now, (rect.width, rect.height));
            }
        }
        if let Some((from, progress)) = fade_from {
            let mut under = std::mem::take(&mut self.under);
            under.resize(size, 0);
            self.draw(from, &mut under, &mut used_placed, &mut composed);
            self.draw(scene, canvas, &mut used_placed, &mut composed);
            blend(canvas, &under, (progress.clamp(0.0, 1.0) * 255.0) as u16);
            self.under = under;
        } else {
            self.draw(scene, canvas, &mut used_placed, &mut composed);
        }
        if scene.draws_stamp() || fade_from.is_some_and(|(from, _)| from.draws_stamp()) {
            let stamped = composed.newest_capture.unwrap_or(now);
            stamp::draw(&mut canvas[..self.width * self.height], self.width, self.height, self.width, stamped.wall.0 as u64);
        }
        self.sources.retain(|key, _| used_sources.contains(key));
        self.placed.retain(|key, _| used_placed.contains(key));
        composed
    }

    fn draw(&mut self, scene: &Scene, canvas: &mut [u8], used: &mut HashSet<PlacedKey>, composed: &mut Composed) {
        let (cw, ch) = (self.width, self.height);
        let (luma, chroma) = canvas.split_at_mut(cw * ch);
        luma.fill(16);
        chroma.fill(128);
        for layer in scene.layers.iter().filter(|l| l.visible && l.opacity > 0.0) {
            let key = SourceKey::of(layer);
            let Some(source) = self.sources.get(&key) else { continue };
            if let Some(problem) = source.warning() {
                composed.warnings.push((layer.label(), problem));
            }
            let Some(picture) = source.picture() else { continue };
            if let Some(captured) = picture.captured {
                composed.newest_capture = Some(composed.newest_capture.filter(|newest| newest.micros >= captured.micros).unwrap_or(captured));
            }
            let rect = Rect::of(layer, Some((picture.planes.width, picture.planes.height)), (cw, ch));
            let crop = layer.crop;
            let planes = cropped(picture.planes, crop);
            // A screen shown whole at its own size over the whole canvas (the
            // usual background) is converted straight onto it: no copy.
            let whole_canvas = rect == Rect { x: 0, y: 0, width: cw, height: ch } && (planes.width, planes.height) == (cw, ch);
            if whole_canvas && layer.opacity >= 1.0 {
                match convert_bgrx(&planes, canvas) {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(error) => {
                        composed.warnings.push((layer.label(), error.to_string()));
                        continue;
                    }
                }
            }
            let output = if planes.format.has_alpha() { PixelFormat::Yuva420 } else { PixelFormat::I420 };
            let placed_key = PlacedKey { source: key, width: rect.width, height: rect.height, crop };
            let placed = self.placed.entry(placed_key.clone()).or_insert_with(|| Placed {
                scaler: Scaler::new(rect.width, rect.height, output),
                pixels: Vec::new(),
                generation: None,
            });
            used.insert(placed_key);
            if placed.generation != Some(picture.generation) {
                if let Err(error) = placed.scaler.scale(&planes, &mut placed.pixels) {
                    composed.warnings.push((layer.label(), error.to_string()));
                    continue;
                }
                placed.generation = Some(picture.generation);
            }
            let opacity = (layer.opacity.clamp(0.0, 1.0) * 255.0).round() as u16;
            paste(canvas, (cw, ch), &Planes::tight(output, &placed.pixels, rect.width, rect.height), rect, opacity);
        }
    }
}

fn cropped(planes: Planes<'_>, crop: Crop) -> Planes<'_> {
    if crop.is_empty() {
        return planes;
    }
    let (left, top) = (crop.left as usize, crop.top as usize);
    let width = planes.width.saturating_sub(left + crop.right as usize);
    let height = planes.height.saturating_sub(top + crop.bottom as usize);
    planes.crop(left, top, width, height)
}

/// Copies (opacity 255, no alpha) or blends a layer's I420/YUVA picture onto
/// the canvas at `rect`, clipped to the canvas.
fn paste(canvas: &mut [u8], (cw, ch): (usize, usize), layer: &Planes, rect: Rect, opacity: u16) {
    let x0 = rect.x.clamp(0, cw as i64) as usize;
    let y0 = rect.y.clamp(0, ch as i64) as usize;
    let x1 = (rect.x + rect.width as i64).clamp(0, cw as i64) as usize;
    let y1 = (rect.y + rect.height as i64).clamp(0, ch as i64) as usize;
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    // Offsets into the layer of the visible part.
    let (lx, ly) = ((x0 as i64 - rect.x) as usize, (y0 as i64 - rect.y) as usize);
    let alpha = layer.format.has_alpha().then(|| layer.data[3]);
    let (luma, chroma) = canvas.split_at_mut(cw * ch);
    let (u_plane, v_plane) = chroma.split_at_mut((cw / 2) * (ch / 2));
    for y in y0..y1 {
        let source_row = (ly + y - y0) * layer.strides[0] + lx;
        let target = &mut luma[y * cw + x0..y * cw + x1];
        let source = &layer.data[0][source_row..source_row + (x1 - x0)];
        let alpha_row = alpha.map(|a| &a[(ly + y - y0) * layer.strides[3] + lx..][..x1 - x0]);
        mix_row(target, source, alpha_row, opacity, 1);
    }
    let (cx0, cx1, cy0, cy1) = (x0 / 2, x1 / 2, y0 / 2, y1 / 2);
    let (clx, cly) = (lx / 2, ly / 2);
    for (plane, canvas_plane) in [(1, &mut *u_plane), (2, &mut *v_plane)] {
        for y in cy0..cy1 {
            let source_row = (cly + y - cy0) * layer.strides[plane] + clx;
            let target = &mut canvas_plane[y * (cw / 2) + cx0..y * (cw / 2) + cx1];
            let source = &layer.data[plane][source_row..source_row + (cx1 - cx0)];
            // A chroma sample takes the alpha of the top-left of its four luma pixels.
            let alpha_row = alpha.map(|a| &a[(2 * (cly + y - cy0)) * layer.strides[3] + 2 * clx..][..2 * (cx1 - cx0)]);
            mix_row(target, source, alpha_row, opacity, 2);
        }
    }
}

/// `target = source·a + target·(1 − a)` with a = opacity × alpha (every
/// `step`th alpha sample); a plain copy when fully opaque.
fn mix_row(target: &mut [u8], source: &[u8], alpha: Option<&[u8]>, opacity: u16, step: usize) {
    match alpha {
        None if opacity >= 255 => target.copy_from_slice(source),
        None => {
            for (t, &s) in target.iter_mut().zip(source) {
                *t = ((u16::from(s) * opacity + u16::from(*t) * (255 - opacity) + 127) / 255) as u8;
            }
        }
        Some(alpha) => {
            for ((t, &s), &a) in target.iter_mut().zip(source).zip(alpha.iter().step_by(step)) {
                let a = (u16::from(a) * opacity + 127) / 255;
                *t = ((u16::from(s) * a + u16::from(*t) * (255 - a) + 127) / 255) as u8;
            }
        }
    }
}

/// `canvas = canvas·w + under·(1 − w)`, for a fade, w in 0..=255.
fn blend(canvas: &mut [u8], under: &[u8], weight: u16) {
    mix_row(canvas, under, None, 255 - weight, 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::spec::SourceSpec;

    fn luma_at(canvas: &[u8], width: usize, x: usize, y: usize) -> u8 {
        canvas[y * width + x]
    }

    #[test]
    fn layers_land_at_their_rectangles_over_each_other() {
        let clock = CaptureClock::start();
        let mut compositor = Compositor::new(320, 180, 30, clock);
        let scene = Scene::new(
            "s",
            vec![
                Layer::new(SourceSpec::Color([255, 255, 255])),
                Layer::new(SourceSpec::Color([0, 0, 0])).at(100, 40, 60, 50),
                Layer { opacity: 0.5, ..Layer::new(SourceSpec::Color([0, 0, 0])).at(200, 100, 40, 40) },
                Layer { visible: false, ..Layer::new(SourceSpec::Color([0, 0, 0])).at(0, 0, 40, 40) },
            ],
        );
        let mut canvas = Vec::new();
        let composed = compositor.compose(&scene, None, clock.now(), &mut canvas);
        assert!(composed.warnings.is_empty() && composed.newest_capture.is_none());
        assert_eq!(luma_at(&canvas, 320, 10, 10), 235, "white under the hidden layer");
        assert_eq!(luma_at(&canvas, 320, 130, 60), 16, "black box");
        assert_eq!(luma_at(&canvas, 320, 98, 60), 235, "left of it");
        assert_eq!(luma_at(&canvas, 320, 160, 60), 235, "right of it");
        let half = luma_at(&canvas, 320, 220, 120);
        assert!((124..=127).contains(&half), "half opacity: {half}");
        // Off the canvas partly: clipped, never out of bounds.
        let partly_off = Scene::new(
            "p",
            vec![Layer::new(SourceSpec::Color([0, 0, 0])).at(300, 170, 100, 100), Layer::new(SourceSpec::Color([0, 0, 0])).at(-50, -50, 60, 60)],
        );
        compositor.compose(&partly_off, None, clock.now(), &mut canvas);
        assert_eq!((luma_at(&canvas, 320, 310, 175), luma_at(&canvas, 320, 5, 5), luma_at(&canvas, 320, 20, 20)), (16, 16, 16));
    }

    #[test]
    fn a_fade_is_between_the_two_scenes_and_the_stamp_reads_back() {
        let clock = CaptureClock::start();
        let mut compositor = Compositor::new(320, 180, 30, clock);
        let white = Scene { stamp: Some(true), ..Scene::new("w", vec![Layer::new(SourceSpec::Color([255, 255, 255]))]) };
        let black = Scene::new("b", vec![Layer::new(SourceSpec::Color([0, 0, 0]))]);
        let mut canvas = Vec::new();
        let now = clock.now();
        compositor.compose(&black, Some((&white, 0.25)), now, &mut canvas);
        let mixed = luma_at(&canvas, 320, 200, 150);
        assert!((178..=182).contains(&mixed), "a quarter of the way from white to black: {mixed}");
        assert_eq!(stamp::read(&canvas[..320 * 180], 320, 180, 320), Some(now.wall.0 as u64));
    }

    #[test]
    fn the_test_pattern_layer_carries_its_capture_time() {
        let clock = CaptureClock::start();
        let mut compositor = Compositor::new(640, 360, 30, clock);
        let layers = vec![Layer::new(SourceSpec::Color([0, 0, 255])), Layer::new(SourceSpec::TestPattern).at(320, 180, 320, 180)];
        let scene = Scene { stamp: Some(true), ..Scene::new("pip", layers) };
        let mut canvas = Vec::new();
        let now = clock.from_micros(1_000_000);
        let composed = compositor.compose(&scene, None, now, &mut canvas);
        assert_eq!(composed.newest_capture, Some(now));
        assert_eq!(stamp::read(&canvas[..640 * 360], 640, 360, 640), Some(now.wall.0 as u64), "the stamp is drawn over the canvas");
        // The pattern's own stamp, drawn at its own scale, reads in its corner.
        let corner: Vec<u8> = (180..360).flat_map(|y| canvas[y * 640 + 320..y * 640 + 640].to_vec()).collect();
        assert_eq!(stamp::read(&corner, 320, 180, 320), Some(now.wall.0 as u64));
    }
}
