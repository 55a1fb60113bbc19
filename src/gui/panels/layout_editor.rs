//! Layers moved and resized with the mouse on the program preview, as in
//! OBS: press on a layer to select it and drag it to move it (its edges
//! snap to the canvas's), or drag the selected layer's corner handle to
//! resize it, keeping its shape unless Shift is held. The geometry is plain
//! functions of canvas pixels; the overlay maps them to the picture.

use eframe::egui;

use crate::gui::command::AppCommand;
use crate::scene::compose::Rect;
use crate::scene::{Layer, Scene, SourceSpec};

/// Edges this close to the canvas's (in canvas pixels) snap to them.
const SNAP: i64 = 12;
/// The corner handle's size on screen, in points.
const HANDLE: f32 = 10.0;
/// No layer is resized below this (canvas pixels).
const SMALLEST: i64 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grip {
    Body,
    Corner,
}

#[derive(Clone, Copy, Debug)]
struct Drag {
    index: usize,
    grip: Grip,
    from: Rect,
    pointer_from: egui::Pos2,
}

#[derive(Default)]
pub struct LayoutEditor {
    selected: Option<usize>,
    drag: Option<Drag>,
}

/// Where the editor shows a layer. An image or a text drawn at its own size
/// (unknown here) gets a box a fifth of the canvas to be grabbed by.
pub fn layer_rect(layer: &Layer, canvas: (usize, usize)) -> Rect {
    let natural = matches!(layer.source, SourceSpec::Image(_) | SourceSpec::Text(_)).then_some((canvas.0 / 5, canvas.1 / 5));
    Rect::of(layer, natural, canvas)
}

/// The topmost visible layer under `point` (canvas pixels).
pub fn layer_at(scene: &Scene, canvas: (usize, usize), point: (i64, i64)) -> Option<usize> {
    scene.layers.iter().enumerate().rev().filter(|(_, layer)| layer.visible).find_map(|(index, layer)| {
        let rect = layer_rect(layer, canvas);
        let inside = (rect.x..rect.x + rect.width as i64).contains(&point.0) && (rect.y..rect.y + rect.height as i64).contains(&point.1);
        inside.then_some(index)
    })
}

/// `from` moved by `delta`, its edges snapped to the canvas's when close.
pub fn moved(from: Rect, delta: (i64, i64), canvas: (usize, usize)) -> (i64, i64) {
    let snap = |start: i64, length: usize, room: usize| {
        let end = room as i64 - length as i64;
        if start.abs() <= SNAP {
            0
        } else if (start - end).abs() <= SNAP {
            end
        } else {
            start
        }
    };
    (snap(from.x + delta.0, from.width, canvas.0), snap(from.y + delta.1, from.height, canvas.1))
}

/// `from`'s size with its lower right corner moved by `delta`: the same
/// shape unless `free`.
pub fn resized(from: Rect, delta: (i64, i64), free: bool) -> (i64, i64) {
    let width = (from.width as i64 + delta.0).max(SMALLEST);
    let height = if free { (from.height as i64 + delta.1).max(SMALLEST) } else { (width * from.height as i64 / from.width.max(1) as i64).max(SMALLEST) };
    (width, height)
}

impl LayoutEditor {
    /// Draws the layers' outlines over the picture at `picture` and turns
    /// the pointer's drags on `response` into [`AppCommand::PlaceLayer`].
    pub fn ui(&mut self, ui: &egui::Ui, response: &egui::Response, scene: &Scene, canvas: (usize, usize), commands: &mut Vec<AppCommand>) {
        let picture = response.rect;
        let scale = picture.width() / canvas.0.max(1) as f32;
        let to_canvas = |pos: egui::Pos2| (((pos.x - picture.left()) / scale) as i64, ((pos.y - picture.top()) / scale) as i64);
        let to_screen = |rect: Rect| {
            egui::Rect::from_min_size(
                picture.min + egui::vec2(rect.x as f32 * scale, rect.y as f32 * scale),
                egui::vec2(rect.width as f32 * scale, rect.height as f32 * scale),
            )
        };
        self.selected = self.selected.filter(|&index| index < scene.layers.len());
        let handle_of = |rect: Rect| egui::Rect::from_center_size(to_screen(rect).max, egui::vec2(HANDLE, HANDLE));
        // A drag starts once the pointer has moved a little: it is measured from where it was pressed.
        if response.drag_started()
            && let Some(pointer) = ui.input(|i| i.pointer.press_origin()).or(response.interact_pointer_pos())
        {
            let on_handle = self.selected.filter(|&index| handle_of(layer_rect(&scene.layers[index], canvas)).expand(2.0).contains(pointer));
            let (index, grip) = match on_handle {
                Some(index) => (Some(index), Grip::Corner),
                None => (layer_at(scene, canvas, to_canvas(pointer)), Grip::Body),
            };
            self.selected = index;
            self.drag = index.map(|index| Drag { index, grip, from: layer_rect(&scene.layers[index], canvas), pointer_from: pointer });
        }
        if response.clicked()
            && let Some(pointer) = response.interact_pointer_pos()
        {
            self.selected = layer_at(scene, canvas, to_canvas(pointer));
        }
        if let (Some(drag), Some(pointer)) =
            (self.drag.filter(|d| d.index < scene.layers.len()), response.interact_pointer_pos().filter(|_| response.dragged()))
        {
            let delta = pointer - drag.pointer_from;
            let delta = ((delta.x / scale).round() as i64, (delta.y / scale).round() as i64);
            let layer = &scene.layers[drag.index];
            let (x, y, size) = match drag.grip {
                Grip::Body => {
                    let (x, y) = moved(drag.from, delta, canvas);
                    // A layer drawn at its own size keeps it: only its place changes.
                    (x, y, layer.width.zip(layer.height))
                }
                Grip::Corner => {
                    let (width, height) = resized(drag.from, delta, ui.input(|i| i.modifiers.shift));
                    (drag.from.x, drag.from.y, Some((width as u32, height as u32)))
                }
            };
            let (x, y) = (x as i32, y as i32);
            if (x, y, size) != (layer.x, layer.y, layer.width.zip(layer.height)) {
                commands.push(AppCommand::PlaceLayer { index: drag.index, x, y, size });
            }
        }
        if response.drag_stopped() {
            self.drag = None;
        }
        let painter = ui.painter_at(picture);
        for (index, layer) in scene.layers.iter().enumerate().filter(|(_, layer)| layer.visible) {
            let rect = to_screen(layer_rect(layer, canvas));
            if Some(index) == self.selected {
                painter.rect_stroke(rect, 0.0, egui::Stroke::new(2.0, egui::Color32::RED), egui::StrokeKind::Inside);
                painter.rect_filled(handle_of(layer_rect(layer, canvas)), 0.0, egui::Color32::RED);
            } else if response.hovered() {
                painter.rect_stroke(rect, 0.0, egui::Stroke::new(1.0, egui::Color32::from_white_alpha(90)), egui::StrokeKind::Inside);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: i64, y: i64, width: usize, height: usize) -> Rect {
        Rect { x, y, width, height }
    }

    #[test]
    fn the_topmost_visible_layer_under_the_pointer_is_picked() {
        let mut scene = Scene::new(
            "s",
            vec![
                Layer::new(SourceSpec::TestPattern),
                Layer::new(SourceSpec::Color([0, 0, 0])).at(100, 100, 200, 100),
                Layer::new(SourceSpec::TestPattern).at(150, 150, 50, 50),
            ],
        );
        assert_eq!(layer_at(&scene, (1280, 720), (160, 160)), Some(2));
        assert_eq!(layer_at(&scene, (1280, 720), (120, 120)), Some(1));
        assert_eq!(layer_at(&scene, (1280, 720), (10, 10)), Some(0));
        scene.layers[2].visible = false;
        assert_eq!(layer_at(&scene, (1280, 720), (160, 160)), Some(1), "a hidden layer is not grabbed");
    }

    #[test]
    fn a_move_snaps_to_the_canvas_edges_and_a_resize_keeps_the_shape_unless_free() {
        let from = rect(100, 100, 320, 180);
        assert_eq!(moved(from, (50, -20), (1280, 720)), (150, 80));
        assert_eq!(moved(from, (-95, -92), (1280, 720)), (0, 0), "near the top left corner");
        assert_eq!(moved(from, (855, 435), (1280, 720)), (960, 540), "near the lower right corner");
        assert_eq!(resized(from, (160, 0), false), (480, 270));
        assert_eq!(resized(from, (160, 10), true), (480, 190));
        assert_eq!(resized(from, (-1000, -1000), false), (SMALLEST, SMALLEST));
    }
}
