//! The app's scenes, kept in a TOML file of the scene file's own form
//! (`[[scenes]]`, each with its `[[scenes.layers]]`), beside the settings.

use std::path::PathBuf;

use crate::scene::{Scene, SceneCollection};

pub struct SceneStore {
    path: PathBuf,
}

impl SceneStore {
    /// `~/.config/onair/scenes.toml`.
    pub fn default_location() -> Option<SceneStore> {
        crate::xdg::config_home().map(|config| SceneStore { path: config.join("onair").join("scenes.toml") })
    }

    pub fn at(path: PathBuf) -> SceneStore {
        SceneStore { path }
    }

    /// The saved scenes; the test pattern alone when there are none yet (or the file is not a collection, which is logged).
    pub fn load(&self) -> SceneCollection {
        let saved = std::fs::read_to_string(&self.path).ok().map(|text| SceneCollection::parse(&text, &self.path));
        match saved {
            Some(Ok(collection)) if !collection.scenes.is_empty() => collection,
            Some(Err(error)) => {
                tracing::warn!("{error}; starting from the test pattern scene");
                SceneCollection::starter()
            }
            _ => SceneCollection::starter(),
        }
    }

    pub fn save(&self, collection: &SceneCollection) -> std::io::Result<()> {
        if let Some(folder) = self.path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        std::fs::write(&self.path, collection.to_toml())
    }
}

impl SceneCollection {
    /// What a first start shows: one scene, the test pattern.
    pub fn starter() -> SceneCollection {
        SceneCollection { scenes: vec![Scene::test_pattern()], current: 0 }
    }

    pub fn current_scene(&self) -> Option<&Scene> {
        self.scenes.get(self.current).or(self.scenes.first())
    }
}
