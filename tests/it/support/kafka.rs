//! Reading what the service published: a plain consumer on the test's own topic, from
//! the beginning, with every record's key, headers and decoded value.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use producer_profile::proto::events as pb;

/// One record as read from the topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub key: String,
    pub headers: BTreeMap<String, String>,
    pub raw: Vec<u8>,
    pub event: pb::Event,
}

/// The broker the tests use (`make test` starts it).
pub fn brokers() -> String {
    std::env::var("TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// Reads `topic` from the beginning until `count` records arrived, then one more second
/// (so a record too many shows); fails the test, saying what it waited for and what
/// came, when fewer than `count` arrive within `timeout`.
pub async fn read(brokers: &str, topic: &str, count: usize, timeout: Duration) -> Vec<Record> {
    let brokers = brokers.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || read_blocking(&brokers, &topic, count, timeout))
        .await
        .unwrap()
}

fn read_blocking(brokers: &str, topic: &str, count: usize, timeout: Duration) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("pp-test-reader-{}", uuid::Uuid::now_v7()),
        )
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer");
    let deadline = Instant::now() + timeout;
    let partitions = loop {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(2));
        let found = metadata.ok().and_then(|m| {
            m.topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().len())
                .filter(|n| *n > 0)
        });
        match found {
            Some(n) => break n,
            None if Instant::now() > deadline => {
                panic!("waited {timeout:?} for topic {topic} to exist (to read {count} records)")
            }
            None => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut records = Vec::new();
    let mut linger_until: Option<Instant> = None;
    while Instant::now() < linger_until.unwrap_or(deadline) {
        if records.len() >= count && linger_until.is_none() {
            linger_until = Some(Instant::now() + Duration::from_secs(1));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let Ok(message) = message else { continue };
        let raw = message.payload().unwrap_or_default().to_vec();
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| {
                        let value = h
                            .value
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                            .unwrap_or_default();
                        (h.key.to_owned(), value)
                    })
                    .collect()
            })
            .unwrap_or_default();
        records.push(Record {
            partition: message.partition(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default(),
            headers,
            event: pb::Event::decode(raw.as_slice()).expect("every record is an Event"),
            raw,
        });
    }
    let types: Vec<&str> = records.iter().map(|r| r.event.r#type.as_str()).collect();
    assert!(
        records.len() >= count,
        "waited {timeout:?} for {count} records on {topic}; {} arrived: {types:?}",
        records.len()
    );
    records
}

/// A broker of the test's own (tansu, in memory), for tests that stop and start it.
pub struct Broker {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl Broker {
    /// Starts tansu on a free loopback port and waits until it accepts connections.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut broker = Self { port, child: None };
        broker.restart();
        broker
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port (empty: its storage is in memory).
    pub fn restart(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let tansu = std::env::var("TANSU").unwrap_or_else(|_| {
            let cargo_bin = std::env::var("CARGO_HOME")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|_| {
                    std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo")
                })
                .join("bin/tansu");
            if cargo_bin.exists() {
                cargo_bin.display().to_string()
            } else {
                "tansu".into()
            }
        });
        let child = std::process::Command::new(tansu)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tansu is installed (make test installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}
