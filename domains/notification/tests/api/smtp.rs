//! A small SMTP server the tests control: it records each accepted message, can be stopped and
//! started again on the same port, can delay every reply, and can answer `RCPT TO` as told
//! (the shared catcher never refuses and never hangs, and those are what is under test).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::{JoinHandle, JoinSet};

/// One message the server accepted (answered 250 to the end of its data).
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope recipients.
    pub rcpt: Vec<String>,
    /// The message as sent (headers and body).
    pub data: String,
}

#[derive(Debug)]
struct Behaviour {
    delay: Duration,
    rcpt_reply: String,
}

#[derive(Debug)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    received: Mutex<Vec<Received>>,
    connections: Mutex<usize>,
}

/// The server. Dropping it stops it.
pub struct TestSmtp {
    pub port: u16,
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl TestSmtp {
    /// A server on a free port, not listening yet: connections are refused until [`Self::start`].
    pub fn down() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        Self {
            port,
            shared: Arc::new(Shared {
                behaviour: Mutex::new(Behaviour {
                    delay: Duration::ZERO,
                    rcpt_reply: "250 OK".to_owned(),
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

    /// The port as the app's `SMTP_PORT`.
    pub fn port_var(&self) -> String {
        self.port.to_string()
    }

    /// Every reply (the greeting included) waits `delay` first.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.behaviour.lock().unwrap().delay = delay;
    }

    /// What `RCPT TO` is answered (`550 5.1.1 no such user`).
    pub fn set_rcpt_reply(&self, reply: &str) {
        self.shared.behaviour.lock().unwrap().rcpt_reply = reply.to_owned();
    }

    /// Starts listening on the port (again).
    pub fn start(&self) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(([127, 0, 0, 1], self.port).into())
            .expect("the port is free again");
        let listener = socket.listen(64).expect("listen");
        let shared = self.shared.clone();
        let task = tokio::spawn(accept(listener, shared));
        if let Some(old) = self.accept.lock().unwrap().replace(task) {
            old.abort();
        }
    }

    /// Stops listening and cuts every open conversation: the port refuses connections.
    pub async fn stop(&self) {
        let task = self.accept.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// The messages accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The messages accepted so far for `address`.
    pub fn received_by(&self, address: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| m.rcpt.iter().any(|r| r.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        *self.shared.connections.lock().unwrap()
    }
}

impl Drop for TestSmtp {
    fn drop(&mut self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
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
                *shared.connections.lock().unwrap() += 1;
                conversations.spawn(converse(socket, shared.clone()));
            }
            Some(_) = conversations.join_next(), if !conversations.is_empty() => {}
        }
    }
}

async fn converse(socket: tokio::net::TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let reply = |text: String| {
        let delay = shared.behaviour.lock().unwrap().delay;
        async move {
            tokio::time::sleep(delay).await;
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
                let answer = shared.behaviour.lock().unwrap().rcpt_reply.clone();
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
                let accepted = reply("250 queued".to_owned()).await;
                // Recorded when accepted: the 250 goes out right after.
                shared.received.lock().unwrap().push(Received {
                    rcpt: std::mem::take(&mut rcpt),
                    data,
                });
                if write.write_all(accepted.as_bytes()).await.is_err() {
                    return;
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
