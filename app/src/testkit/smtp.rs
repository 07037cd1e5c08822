//! A small SMTP server the tests control (the shared catcher never refuses, never hangs and never
//! goes away, and those are what the mail tests are about): it records each message, can be
//! stopped and started again on the same port (cutting every open conversation), can delay every
//! reply, and can answer `RCPT TO` as told.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// One message the server took: the envelope recipients and the message as sent.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope recipients.
    pub rcpt: Vec<String>,
    /// The message as sent (headers and body, dot-unstuffed, lines ending in `\n`).
    pub data: String,
}

impl Received {
    /// The first value of header `name` (case-insensitive), unfolded lines not joined.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.data
            .lines()
            .take_while(|l| !l.is_empty())
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim())
            })
    }
}

/// When a message counts as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// When the server answers 250 to its data (after any delay): a client that gave up
    /// waiting never delivered it.
    AtAcceptance,
    /// As soon as its data is complete, before the (possibly delayed) 250, as a real server
    /// commits it: a client that gives up waiting for the reply and sends again is counted
    /// twice (what the fault suite wants to see).
    WhenDataEnds,
}

#[derive(Debug)]
struct Behaviour {
    delay: Duration,
    rcpt_reply: String,
    recording: Recording,
}

#[derive(Debug)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    received: Mutex<Vec<Received>>,
    connections: Mutex<usize>,
}

/// The server. Dropping it stops it.
pub struct TestSmtp {
    /// The port it listens on (when started).
    pub port: u16,
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl TestSmtp {
    /// A server on a free port, not listening yet: connections are refused until [`Self::start`].
    pub fn down() -> Self {
        Self {
            port: super::free_port(),
            shared: Arc::new(Shared {
                behaviour: Mutex::new(Behaviour {
                    delay: Duration::ZERO,
                    rcpt_reply: "250 OK".to_owned(),
                    recording: Recording::AtAcceptance,
                }),
                received: Mutex::new(Vec::new()),
                connections: Mutex::new(0),
            }),
            accept: Mutex::new(None),
        }
    }

    /// A server that listens at once.
    pub fn up() -> Self {
        let smtp = Self::down();
        smtp.start();
        smtp
    }

    /// `SMTP_HOST` and `SMTP_PORT` for an app that sends through this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("SMTP_HOST".into(), "127.0.0.1".into()),
            ("SMTP_PORT".into(), self.port.to_string()),
        ]
    }

    /// Every reply (the greeting included) waits `delay` first.
    pub fn set_delay(&self, delay: Duration) {
        self.behaviour().delay = delay;
    }

    /// What `RCPT TO` is answered (`550 5.1.1 no such user`).
    pub fn set_rcpt_reply(&self, reply: &str) {
        self.behaviour().rcpt_reply = reply.to_owned();
    }

    /// When a message counts as received (default [`Recording::AtAcceptance`]).
    pub fn set_recording(&self, recording: Recording) {
        self.behaviour().recording = recording;
    }

    fn behaviour(&self) -> std::sync::MutexGuard<'_, Behaviour> {
        self.shared.behaviour.lock().expect("smtp behaviour")
    }

    /// Starts listening on the port (again).
    pub fn start(&self) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(([127, 0, 0, 1], self.port).into())
            .expect("the SMTP port is free again");
        let listener = socket.listen(64).expect("listen");
        let task = tokio::spawn(accept(listener, self.shared.clone()));
        if let Some(old) = self.accept.lock().expect("accept task").replace(task) {
            old.abort();
        }
    }

    /// Stops listening and cuts every open conversation: the port refuses connections.
    pub async fn stop(&self) {
        let task = self.accept.lock().expect("accept task").take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// The messages received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received").clone()
    }

    /// The messages received so far for `address`.
    pub fn received_by(&self, address: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| m.rcpt.iter().any(|r| r.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// Per recipient (lower case), the messages with `subject`: how many distinct ones (by
    /// Message-ID), and how many transmissions repeated one of them (a sender that died after
    /// its data was taken sends the same message again).
    pub fn counts(&self, subject: &str) -> HashMap<String, (usize, usize)> {
        let mut ids: HashMap<String, Vec<String>> = HashMap::new();
        for m in self.received() {
            if m.header("subject") != Some(subject) {
                continue;
            }
            let id = m.header("message-id").unwrap_or_default().to_owned();
            for to in &m.rcpt {
                ids.entry(to.to_ascii_lowercase())
                    .or_default()
                    .push(id.clone());
            }
        }
        ids.into_iter()
            .map(|(to, ids)| {
                let distinct = ids.iter().collect::<HashSet<_>>().len();
                (to, (distinct, ids.len() - distinct))
            })
            .collect()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        *self.shared.connections.lock().expect("connections")
    }
}

impl Drop for TestSmtp {
    fn drop(&mut self) {
        if let Ok(mut accept) = self.accept.lock() {
            if let Some(task) = accept.take() {
                task.abort();
            }
        }
    }
}

/// Accepts until aborted; the conversations live in a `JoinSet` this task owns, so aborting it
/// cuts them all.
async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut conversations = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { return };
                *shared.connections.lock().expect("connections") += 1;
                conversations.spawn(converse(socket, shared.clone()));
            }
            Some(_) = conversations.join_next(), if !conversations.is_empty() => {}
        }
    }
}

async fn converse(socket: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let reply = |text: String| {
        let delay = shared.behaviour.lock().expect("smtp behaviour").delay;
        async move {
            // The slow server: each reply waits (the scenario, not synchronisation).
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            format!("{text}\r\n")
        }
    };
    let greeting = reply("220 test.smtp ESMTP".to_owned()).await;
    if write.write_all(greeting.as_bytes()).await.is_err() {
        return;
    }
    let mut rcpt = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" | "HELO" => "250 test.smtp".to_owned(),
            "MAIL" | "RSET" => {
                rcpt.clear();
                "250 OK".to_owned()
            }
            "RCPT" => {
                let answer = shared
                    .behaviour
                    .lock()
                    .expect("smtp behaviour")
                    .rcpt_reply
                    .clone();
                if answer.starts_with('2') {
                    let address = line
                        .split_once('<')
                        .and_then(|(_, rest)| rest.split_once('>'))
                        .map(|(a, _)| a.to_owned())
                        .unwrap_or_default();
                    rcpt.push(address);
                }
                answer
            }
            "DATA" => {
                let go = reply("354 go ahead".to_owned()).await;
                if write.write_all(go.as_bytes()).await.is_err() {
                    return;
                }
                let mut data = String::new();
                loop {
                    match lines.next_line().await {
                        Ok(Some(l)) if l == "." => break,
                        Ok(Some(l)) => {
                            data.push_str(l.strip_prefix('.').unwrap_or(&l));
                            data.push('\n');
                        }
                        _ => return,
                    }
                }
                let message = Received {
                    rcpt: std::mem::take(&mut rcpt),
                    data,
                };
                let recording = shared.behaviour.lock().expect("smtp behaviour").recording;
                let record = |message: Received| {
                    shared.received.lock().expect("received").push(message);
                };
                if recording == Recording::WhenDataEnds {
                    record(message);
                    let accepted = reply("250 queued".to_owned()).await;
                    if write.write_all(accepted.as_bytes()).await.is_err() {
                        return;
                    }
                } else {
                    let accepted = reply("250 queued".to_owned()).await;
                    // Recorded when accepted: the 250 goes out right after.
                    record(message);
                    if write.write_all(accepted.as_bytes()).await.is_err() {
                        return;
                    }
                }
                continue;
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => "250 OK".to_owned(),
        };
        let answer = reply(answer).await;
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}
