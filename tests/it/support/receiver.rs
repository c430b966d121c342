//! A webhook receiver on loopback: a small HTTP/1.1 server that records every request
//! and answers what the test tells it to.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One received request.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// The answer to give: status, extra headers, body, and a delay before answering.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }
}

type Policy = Box<dyn Fn(&Received, usize) -> Answer + Send + Sync>;

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    policy: Arc<Mutex<Policy>>,
    /// Requests arrived and not yet answered, and the most there ever were.
    open: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
}

impl Receiver {
    /// Starts a receiver answering 200 to everything.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks", listener.local_addr().unwrap());
        let receiver = Self {
            url,
            received: Arc::default(),
            policy: Arc::new(Mutex::new(Box::new(|_, _| Answer::status(200)))),
            open: Arc::default(),
            most_open: Arc::default(),
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let serving = serving.clone();
                tokio::spawn(async move { serving.serve(socket).await });
            }
        });
        receiver
    }

    /// Answers with `policy(request, how many requests came before it)` from now on.
    pub fn answer_with(&self, policy: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static) {
        *self.policy.lock().unwrap() = Box::new(policy);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// How many requests arrived (without copying them).
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Requests it holds unanswered now.
    #[allow(dead_code)] // by the benchmarks, which share this module
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// The most requests it ever held unanswered at once.
    pub fn most_at_once(&self) -> usize {
        self.most_open.load(Ordering::SeqCst)
    }

    /// Waits (up to `timeout`) until `done` holds for what arrived, and returns it; fails
    /// the test, saying it waited for `what` and what did arrive, when it never holds.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            if Instant::now() > deadline {
                let bodies: Vec<&str> = received.iter().map(|r| r.body.as_str()).collect();
                panic!(
                    "waited {timeout:?} at {} for {what}; {} requests arrived: {bodies:#?}",
                    self.url,
                    received.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn serve(&self, mut socket: TcpStream) {
        let mut buffer = Vec::new();
        loop {
            let head_end = loop {
                if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    break end;
                }
                let mut chunk = [0u8; 4096];
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
            let mut headers = BTreeMap::new();
            for line in head.lines().skip(1) {
                if let Some((name, value)) = line.split_once(':') {
                    headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                }
            }
            let length: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let body_start = head_end + 4;
            while buffer.len() < body_start + length {
                let mut chunk = [0u8; 4096];
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
            let body =
                String::from_utf8_lossy(&buffer[body_start..body_start + length]).into_owned();
            buffer.drain(..body_start + length);
            let request = Received {
                headers,
                body,
                at: Instant::now(),
            };
            let open = self.open.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_open.fetch_max(open, Ordering::SeqCst);
            let answer = {
                let mut received = self.received.lock().unwrap();
                let answer = (self.policy.lock().unwrap())(&request, received.len());
                received.push(request);
                answer
            };
            tokio::time::sleep(answer.delay).await;
            let mut response = format!(
                "HTTP/1.1 {} Answer\r\ncontent-length: {}\r\n",
                answer.status,
                answer.body.len()
            );
            for (name, value) in &answer.headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            response.push_str(&answer.body);
            let written = socket.write_all(response.as_bytes()).await;
            self.open.fetch_sub(1, Ordering::SeqCst);
            if written.is_err() {
                return;
            }
        }
    }
}

/// Verifies a delivery's Standard Webhooks signature with `secret` (`whsec_…`), written
/// from the specification: base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), any of
/// the space-separated `v1,` signatures may match, the timestamp within 5 minutes.
pub fn signature_verifies(received: &Received, secret: &str) -> bool {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let id = &received.headers["webhook-id"];
    let timestamp = &received.headers["webhook-timestamp"];
    let sent_at: i64 = timestamp.parse().unwrap();
    if (chrono::Utc::now().timestamp() - sent_at).abs() > 300 {
        return false;
    }
    let signed = format!("{id}.{timestamp}.{}", received.body);
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        signed.as_bytes(),
    );
    let expected = format!("v1,{}", STANDARD.encode(tag.as_ref()));
    received.headers["webhook-signature"]
        .split(' ')
        .any(|candidate| candidate == expected)
}
