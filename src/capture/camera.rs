//! Cameras through nokhwa (V4L2 on Linux), delivered as I420 at the size asked for.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution};

use super::clock::CaptureClock;
use super::convert::{nv12_to_i420, rgb_to_i420, scale_i420, yuyv_to_i420};
use super::frames::VideoFrame;
use super::{CaptureError, VideoSource};

#[derive(Clone, Debug, PartialEq)]
pub struct CameraDescription {
    pub index: u32,
    pub name: String,
    /// "1280x720 YUYV @30", ...
    pub formats: Vec<String>,
}

/// Cameras present on this machine; an empty list when there are none.
pub fn list_cameras() -> Result<Vec<CameraDescription>, CaptureError> {
    let cameras = nokhwa::query(ApiBackend::Auto).map_err(|e| CaptureError::Device(format!("cannot list cameras: {e}")))?;
    Ok(cameras
        .into_iter()
        .filter_map(|info| {
            let CameraIndex::Index(index) = info.index().clone() else { return None };
            let formats = Camera::new(info.index().clone(), RequestedFormat::new::<RgbFormat>(RequestedFormatType::None))
                .and_then(|mut camera| camera.compatible_camera_formats())
                .map(|formats| formats.iter().map(|f| format!("{}x{} {} @{}", f.width(), f.height(), f.format(), f.frame_rate())).collect())
                .unwrap_or_default();
            Some(CameraDescription { index, name: info.human_name(), formats })
        })
        .collect())
}

/// Picks a camera by index ("0") or by part of its name.
pub fn find_camera(selector: Option<&str>) -> Result<u32, CaptureError> {
    let cameras = list_cameras()?;
    if cameras.is_empty() {
        return Err(CaptureError::NoDevice("no camera found; use the test pattern (--video test)".into()));
    }
    let Some(selector) = selector else { return Ok(cameras[0].index) };
    if let Ok(index) = selector.parse::<u32>()
        && cameras.iter().any(|c| c.index == index)
    {
        return Ok(index);
    }
    cameras
        .iter()
        .find(|c| c.name.to_lowercase().contains(&selector.to_lowercase()))
        .map(|c| c.index)
        .ok_or_else(|| CaptureError::NoDevice(format!("no camera matches {selector:?}; `onair devices` lists them")))
}

/// A camera running on its own thread (nokhwa's handle is not Send);
/// converted frames arrive over a small channel.
pub struct CameraSource {
    frames: mpsc::Receiver<Result<VideoFrame, CaptureError>>,
    output: Arc<Mutex<(usize, usize, u32)>>,
    name: String,
    _stop: mpsc::Sender<()>,
}

impl CameraSource {
    pub fn open(index: u32, width: usize, height: usize, fps: u32, clock: CaptureClock) -> Result<CameraSource, CaptureError> {
        let output = Arc::new(Mutex::new((width & !1, height & !1, fps)));
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (frame_tx, frames) = mpsc::sync_channel(2);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let shared = output.clone();
        std::thread::Builder::new()
            .name("camera".into())
            .spawn(move || {
                let mut camera = match open_camera(index, width, height, fps) {
                    Ok(camera) => camera,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(camera.info().human_name()));
                while matches!(stop_rx.try_recv(), Err(mpsc::TryRecvError::Empty)) {
                    let (w, h, _) = *shared.lock().unwrap_or_else(|p| p.into_inner());
                    let frame = read_frame(&mut camera, &clock, w, h);
                    let failed = frame.is_err();
                    match frame_tx.try_send(frame) {
                        // A slow consumer loses frames; capture never waits.
                        Ok(()) | Err(mpsc::TrySendError::Full(_)) => {}
                        Err(mpsc::TrySendError::Disconnected(_)) => break,
                    }
                    if failed {
                        break;
                    }
                }
                let _ = camera.stop_stream();
            })
            .map_err(|e| CaptureError::Device(format!("cannot start the camera thread: {e}")))?;
        let name = ready_rx.recv_timeout(Duration::from_secs(10)).map_err(|_| CaptureError::Device(format!("camera {index} did not start within 10 s")))??;
        Ok(CameraSource { frames, output, name, _stop: stop_tx })
    }
}

fn open_camera(index: u32, width: usize, height: usize, fps: u32) -> Result<Camera, CaptureError> {
    let wanted = CameraFormat::new(Resolution::new(width as u32, height as u32), FrameFormat::YUYV, fps);
    let request = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(wanted));
    let mut camera = Camera::new(CameraIndex::Index(index), request).map_err(|e| CaptureError::Device(format!("cannot open camera {index}: {e}")))?;
    camera.open_stream().map_err(|e| CaptureError::Device(format!("cannot start camera {index}: {e}")))?;
    Ok(camera)
}

fn read_frame(camera: &mut Camera, clock: &CaptureClock, width: usize, height: usize) -> Result<VideoFrame, CaptureError> {
    let buffer = camera.frame().map_err(|e| CaptureError::Device(format!("camera stopped: {e}")))?;
    let captured = clock.now();
    let resolution = buffer.resolution();
    let (w, h) = (resolution.width() as usize & !1, resolution.height() as usize & !1);
    let i420 = match buffer.source_frame_format() {
        FrameFormat::YUYV => yuyv_to_i420(buffer.buffer(), w, h),
        FrameFormat::NV12 => nv12_to_i420(buffer.buffer(), w, h),
        _ => buffer.decode_image::<RgbFormat>().ok().and_then(|rgb| rgb_to_i420(rgb.as_raw(), w, h)),
    }
    .ok_or_else(|| CaptureError::Device(format!("camera delivered a {} frame that could not be converted", buffer.source_frame_format())))?;
    let i420 = scale_i420(&i420, w, h, width, height);
    Ok(VideoFrame { width, height, i420, captured })
}

impl VideoSource for CameraSource {
    fn next_frame(&mut self) -> Result<VideoFrame, CaptureError> {
        match self.frames.recv_timeout(Duration::from_secs(5)) {
            Ok(frame) => frame,
            Err(_) => Err(CaptureError::Device(format!("camera {} delivered nothing for 5 s", self.name))),
        }
    }

    fn set_output(&mut self, width: usize, height: usize, fps: u32) {
        // The camera keeps its mode; frames are scaled to the new size.
        *self.output.lock().unwrap_or_else(|p| p.into_inner()) = (width & !1, height & !1, fps);
    }

    fn size(&self) -> (usize, usize) {
        let (w, h, _) = *self.output.lock().unwrap_or_else(|p| p.into_inner());
        (w, h)
    }

    fn describe(&self) -> String {
        let (w, h, fps) = *self.output.lock().unwrap_or_else(|p| p.into_inner());
        format!("camera {} scaled to {w}x{h} at {fps} fps", self.name)
    }
}
