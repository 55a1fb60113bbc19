//! What a scene is, as its TOML file says it: an ordered list of layers,
//! each a source placed on the output canvas, drawn over the ones before it.
//!
//! ```toml
//! name = "Gameplay"
//! [[layers]]
//! source = "screen"
//! [[layers]]
//! source = "camera"
//! x = 1440
//! y = 800
//! width = 440
//! height = 248
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    #[error("cannot read the scene file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the scene file {path} is not a scene: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("{0}")]
    Invalid(String),
}

/// Where a layer's picture comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SourceSpec {
    /// A whole monitor: the first, or the Nth (from 0).
    Screen(Option<usize>),
    /// The first window whose title contains these words.
    Window(String),
    /// A camera by index or name; None for the first.
    Camera(Option<String>),
    Image(PathBuf),
    Text(String),
    /// Opaque RGB.
    Color([u8; 3]),
    TestPattern,
}

impl FromStr for SourceSpec {
    type Err = SceneError;

    fn from_str(text: &str) -> Result<SourceSpec, SceneError> {
        let (kind, argument) = match text.split_once(':') {
            Some((kind, argument)) => (kind, Some(argument)),
            None => (text, None),
        };
        let invalid = |why: &str| SceneError::Invalid(format!("source \"{text}\": {why}"));
        Ok(match (kind, argument) {
            ("screen", None) => SourceSpec::Screen(None),
            ("screen", Some(n)) => SourceSpec::Screen(Some(n.parse().map_err(|_| invalid("the screen is a number, as in screen:1"))?)),
            ("window", Some(title)) if !title.is_empty() => SourceSpec::Window(title.to_string()),
            ("camera", None) => SourceSpec::Camera(None),
            ("camera", Some(id)) => SourceSpec::Camera(Some(id.to_string())),
            ("image", Some(path)) if !path.is_empty() => SourceSpec::Image(PathBuf::from(path)),
            ("text", Some(words)) => SourceSpec::Text(words.to_string()),
            ("color", Some(hex)) => SourceSpec::Color(parse_rgb(hex).ok_or_else(|| invalid("a colour is written #RRGGBB"))?),
            ("test", None) => SourceSpec::TestPattern,
            _ => return Err(invalid("sources are screen, screen:N, window:TITLE, camera[:ID], image:PATH, text:WORDS, color:#RRGGBB and test")),
        })
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Screen(None) => write!(f, "screen"),
            SourceSpec::Screen(Some(n)) => write!(f, "screen:{n}"),
            SourceSpec::Window(title) => write!(f, "window:{title}"),
            SourceSpec::Camera(None) => write!(f, "camera"),
            SourceSpec::Camera(Some(id)) => write!(f, "camera:{id}"),
            SourceSpec::Image(path) => write!(f, "image:{}", path.display()),
            SourceSpec::Text(words) => write!(f, "text:{words}"),
            SourceSpec::Color(rgb) => write!(f, "color:{}", hex_rgb(*rgb)),
            SourceSpec::TestPattern => write!(f, "test"),
        }
    }
}

impl SourceSpec {
    /// Whether its picture changes by itself (so it is drawn anew every frame).
    pub fn is_live(&self) -> bool {
        matches!(self, SourceSpec::Screen(_) | SourceSpec::Window(_) | SourceSpec::Camera(_) | SourceSpec::TestPattern)
    }
}

pub fn parse_rgb(hex: &str) -> Option<[u8; 3]> {
    let digits = hex.strip_prefix('#').unwrap_or(hex);
    if digits.len() != 6 || !digits.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&digits[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

pub fn hex_rgb([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02X}{g:02X}{b:02X}")
}

impl Serialize for SourceSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SourceSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<SourceSpec, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Pixels cut from each edge of the source before it is scaled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Crop {
    pub left: u32,
    pub top: u32,
    pub right: u32,
    pub bottom: u32,
}

impl Crop {
    pub fn is_empty(&self) -> bool {
        *self == Crop::default()
    }
}

/// How a text layer is drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextStyle {
    /// Glyph height in output pixels.
    pub size: f32,
    /// #RRGGBB.
    pub color: String,
    /// A TTF/OTF file; the face the GUI uses when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub font: Option<PathBuf>,
}

impl Default for TextStyle {
    fn default() -> TextStyle {
        TextStyle { size: 48.0, color: "#FFFFFF".into(), font: None }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub source: SourceSpec,
    /// Shown in the layer list; the source when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub x: i32,
    #[serde(default)]
    pub y: i32,
    /// Output pixels; the whole canvas (or an image's or a text's own size) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Crop::is_empty")]
    pub crop: Crop,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub opacity: f32,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub visible: bool,
    #[serde(default, skip_serializing_if = "is_default_text", flatten)]
    pub text: TextStyle,
}

fn one() -> f32 {
    1.0
}

fn is_one(value: &f32) -> bool {
    *value == 1.0
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

fn is_default_text(style: &TextStyle) -> bool {
    *style == TextStyle::default()
}

impl Layer {
    pub fn new(source: SourceSpec) -> Layer {
        Layer {
            source,
            name: String::new(),
            x: 0,
            y: 0,
            width: None,
            height: None,
            crop: Crop::default(),
            opacity: 1.0,
            visible: true,
            text: TextStyle::default(),
        }
    }

    pub fn at(mut self, x: i32, y: i32, width: u32, height: u32) -> Layer {
        (self.x, self.y, self.width, self.height) = (x, y, Some(width), Some(height));
        self
    }

    pub fn label(&self) -> String {
        if self.name.is_empty() { self.source.to_string() } else { self.name.clone() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    #[serde(default)]
    pub name: String,
    /// Draws the capture stamp over the output's top-left corner, for
    /// measuring latency through a composed scene (a full-canvas test pattern
    /// has its own there already). Off unless the file says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<bool>,
    #[serde(default)]
    pub layers: Vec<Layer>,
}

impl Scene {
    pub fn new(name: &str, layers: Vec<Layer>) -> Scene {
        Scene { name: name.into(), stamp: None, layers }
    }

    /// The test pattern, full canvas: what the studio shows with no scene chosen.
    pub fn test_pattern() -> Scene {
        Scene::new("Test pattern", vec![Layer::new(SourceSpec::TestPattern)])
    }

    pub fn draws_stamp(&self) -> bool {
        self.stamp.unwrap_or(false)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Scene, SceneError> {
        let mut scene: Scene = toml::from_str(text).map_err(|source| SceneError::Parse { path: path.into(), source: Box::new(source) })?;
        if scene.name.is_empty() {
            scene.name = path.file_stem().map_or_else(|| "Scene".into(), |stem| stem.to_string_lossy().into_owned());
        }
        scene.validate()?;
        Ok(scene)
    }

    pub fn load(path: &Path) -> Result<Scene, SceneError> {
        let text = std::fs::read_to_string(path).map_err(|source| SceneError::Read { path: path.into(), source })?;
        Scene::parse(&text, path)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    pub fn validate(&self) -> Result<(), SceneError> {
        for (index, layer) in self.layers.iter().enumerate() {
            let at = || format!("layer {} ({})", index + 1, layer.source);
            if !(0.0..=1.0).contains(&layer.opacity) {
                return Err(SceneError::Invalid(format!("{}: opacity is between 0 and 1, not {}", at(), layer.opacity)));
            }
            if layer.width == Some(0) || layer.height == Some(0) {
                return Err(SceneError::Invalid(format!("{}: a width or height of 0 shows nothing", at())));
            }
            if parse_rgb(&layer.text.color).is_none() {
                return Err(SceneError::Invalid(format!("{}: colour \"{}\" is not #RRGGBB", at(), layer.text.color)));
            }
            if !(1.0..=1000.0).contains(&layer.text.size) {
                return Err(SceneError::Invalid(format!("{}: text size {} is not 1 to 1000 pixels", at(), layer.text.size)));
            }
        }
        Ok(())
    }
}

/// The studio's scenes, persisted in the scene file's own form under `[[scenes]]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneCollection {
    #[serde(default)]
    pub scenes: Vec<Scene>,
    /// The scene on air.
    #[serde(default)]
    pub current: usize,
}

impl SceneCollection {
    pub fn parse(text: &str, path: &Path) -> Result<SceneCollection, SceneError> {
        let collection: SceneCollection = toml::from_str(text).map_err(|source| SceneError::Parse { path: path.into(), source: Box::new(source) })?;
        for scene in &collection.scenes {
            scene.validate()?;
        }
        Ok(collection)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_form_reads_and_writes_back() {
        for text in [
            "screen",
            "screen:1",
            "window:Firefox — a page",
            "camera",
            "camera:/dev/video2",
            "image:/tmp/logo.png",
            "text:Be right back",
            "color:#1A2B3C",
            "test",
        ] {
            let spec: SourceSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
        for bad in ["screens", "screen:x", "color:#12345", "color:red", "window:", "image:", "test:1", ""] {
            assert!(bad.parse::<SourceSpec>().is_err(), "{bad} is refused");
        }
    }

    #[test]
    fn a_scene_file_reads_with_defaults_and_round_trips() {
        let text = r##"
            [[layers]]
            source = "screen"
            [[layers]]
            source = "camera"
            x = 1440
            y = 800
            width = 440
            height = 248
            opacity = 0.5
            crop = { left = 10, right = 10 }
            [[layers]]
            source = "text:LIVE"
            x = 40
            y = 40
            size = 64
            color = "#FF0000"
        "##;
        let scene = Scene::parse(text, Path::new("/scenes/gameplay.toml")).unwrap();
        assert_eq!(scene.name, "gameplay");
        assert_eq!(scene.layers.len(), 3);
        assert_eq!(scene.layers[0], Layer::new(SourceSpec::Screen(None)));
        assert_eq!((scene.layers[1].x, scene.layers[1].width, scene.layers[1].opacity), (1440, Some(440), 0.5));
        assert_eq!(scene.layers[1].crop, Crop { left: 10, top: 0, right: 10, bottom: 0 });
        assert_eq!((scene.layers[2].text.size, scene.layers[2].text.color.as_str()), (64.0, "#FF0000"));
        assert!(!scene.draws_stamp());
        assert_eq!(Scene::parse(&scene.to_toml(), Path::new("x.toml")).unwrap(), scene);
        let collection = SceneCollection { scenes: vec![scene.clone(), Scene::test_pattern()], current: 1 };
        assert_eq!(SceneCollection::parse(&collection.to_toml(), Path::new("c.toml")).unwrap(), collection);
        assert!(!Scene::test_pattern().draws_stamp() && Scene { stamp: Some(true), ..Scene::test_pattern() }.draws_stamp());
    }

    #[test]
    fn a_bad_scene_says_which_layer_and_why() {
        let error = Scene::parse("[[layers]]\nsource = \"test\"\n[[layers]]\nsource = \"color:#000000\"\nopacity = 2.0\n", Path::new("s.toml")).unwrap_err();
        assert!(error.to_string().contains("layer 2 (color:#000000): opacity"), "{error}");
        let error = Scene::parse("[[layers]]\nsource = \"webcam\"\n", Path::new("s.toml")).unwrap_err();
        assert!(error.to_string().contains("s.toml") && error.to_string().contains("webcam"), "{error}");
    }
}
