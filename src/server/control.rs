//! Changes to a running server from the app that embeds it, as commands
//! over a channel: the app never holds the hub or calls into it.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use super::hub::Hub;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerCommand {
    /// Transcode a ladder for the publishers that start from now on.
    SetLadder(bool),
}

/// The app's end of the channel; cheap to clone.
#[derive(Clone, Debug)]
pub struct ServerControl {
    commands: Sender<ServerCommand>,
}

impl ServerControl {
    /// Applies commands to `hub` on a thread of its own, which sleeps until
    /// one comes and ends when the last `ServerControl` is dropped.
    pub fn attach(hub: Arc<Hub>) -> std::io::Result<ServerControl> {
        let (commands, incoming) = channel();
        std::thread::Builder::new().name("server-control".into()).spawn(move || apply_all(&hub, incoming))?;
        Ok(ServerControl { commands })
    }

    pub fn send(&self, command: ServerCommand) {
        if self.commands.send(command).is_err() {
            tracing::warn!("the bundled server's control has stopped; {command:?} was not applied");
        }
    }
}

fn apply_all(hub: &Hub, incoming: Receiver<ServerCommand>) {
    for command in incoming {
        match command {
            ServerCommand::SetLadder(on) => hub.set_ladder(on),
        }
    }
}
