//! Where the webhook intake reads each partition of the events topic, and whether the
//! topic still holds what was read.
//!
//! The positions live in Postgres, the events in the broker: the two can part. When the
//! topic is recreated, or the broker loses its log (tansu's memory storage does on every
//! restart), a stored position points into a different log. Kafka answers a fetch past
//! the end "out of range" and the consumer starts over; but a new log that already grew
//! past the position would be read from there on, its first events skipped — and some
//! brokers answer nothing at all. So positions are checked when the intake takes the
//! lead and every 30 s: one past its partition's end, or one whose previous offset now
//! holds another event than the one read there, is moved back to the partition's start.
//! Events already recorded are not recorded twice (deliveries are unique per event and
//! endpoint).
//!
//! (A topic recreated under a running consumer can crash librdkafka 2.12 — its metadata
//! cache mishandles a known name with a new topic id, confluentinc/librdkafka#4964. The
//! dispatcher then restarts, and the check at takeover finds the new log.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use uuid::Uuid;

use crate::config::KafkaConfig;
use crate::domain::Error;
use crate::events::kafka;
use crate::storage::intake_offsets::{self, Position};
use crate::storage::session::Session;

/// Each partition's position, as the leader last stored it.
pub type Positions = Arc<Mutex<HashMap<i32, Position>>>;

/// The group librdkafka requires for `assign()`. It is never joined (no `subscribe`) and
/// nothing is committed to it: the positions live in Postgres.
pub const INTAKE_GROUP: &str = "producer-profile-webhook-intake";

/// How long one question to the broker may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// The event id of a record (its CloudEvents `ce_id` header).
pub fn event_id_of(message: &impl Message) -> Option<Uuid> {
    kafka::header(message, kafka::CE_ID).and_then(|value| Uuid::parse_str(value).ok())
}

/// Makes `consumer` read every partition of the topic from its checked position (from
/// the start for a partition never read). Partitions added to the topic join here; a
/// broker that does not answer is asked again at the next check. `assigned` is what the
/// consumer reads now (emptied when an assignment failed, so the next check retries).
pub async fn assign_partitions<C: rdkafka::consumer::ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    kafka: &KafkaConfig,
    session: &mut Session,
    positions: &Positions,
    assigned: &mut Vec<i32>,
) -> Result<(), Error> {
    let stored = positions.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let log = match read_log(kafka, stored.clone()).await {
        Ok(log) => log,
        Err(error) => {
            tracing::warn!(%error, "cannot read the events topic's partitions; trying again later");
            return Ok(());
        }
    };
    if log.partitions.is_empty() {
        return Ok(());
    }
    let rewound = rewind_replaced(kafka, session, positions, &stored, &log).await?;
    if log.partitions == *assigned && !rewound {
        return Ok(());
    }
    let mut list = TopicPartitionList::new();
    {
        let positions = positions.lock().unwrap_or_else(|e| e.into_inner());
        for partition in &log.partitions {
            let offset = positions
                .get(partition)
                .map_or(Offset::Beginning, |p| Offset::Offset(p.next_offset));
            if let Err(error) = list.add_partition_offset(&kafka.topic, *partition, offset) {
                tracing::warn!(%error, partition, "cannot assign a partition");
                assigned.clear();
                return Ok(());
            }
        }
    }
    match consumer.assign(&list) {
        Ok(()) => {
            tracing::info!(
                partitions = log.partitions.len(),
                "reading the events topic"
            );
            *assigned = log.partitions;
        }
        Err(error) => {
            tracing::warn!(%error, "cannot assign the events topic's partitions");
            assigned.clear();
        }
    }
    Ok(())
}

/// What the topic holds now, as far as the positions care.
struct Log {
    /// Its partitions, sorted (empty while the topic does not exist).
    partitions: Vec<i32>,
    /// Each partition's low and high watermarks, where the broker answered.
    ends: HashMap<i32, (i64, i64)>,
    /// For a position inside its partition with an event id to compare: the id of the
    /// event now just before it (`None`: a record without one). Absent when not fetched.
    ids_before: HashMap<i32, Option<Uuid>>,
}

/// Asks the broker, through one short-lived client, what the positions need to know.
async fn read_log(
    kafka: &KafkaConfig,
    stored: HashMap<i32, Position>,
) -> Result<Log, kafka::Error> {
    let kafka = kafka.clone();
    tokio::task::spawn_blocking(move || {
        let probe = kafka::probe(&kafka, Some(INTAKE_GROUP))?;
        let mut partitions = kafka::partition_ids(&probe, &kafka, ASK_TIMEOUT)?.unwrap_or_default();
        partitions.sort_unstable();
        let ends = kafka::watermarks(&probe, &kafka.topic, &partitions, ASK_TIMEOUT);
        let mut ids_before = HashMap::new();
        for (partition, (low, high)) in &ends {
            if let Some(position) = stored.get(partition)
                && position.last_event_id.is_some()
                && position.next_offset > *low
                && position.next_offset <= *high
                && let Some(id) =
                    fetch_event_id(&probe, &kafka.topic, *partition, position.next_offset - 1)
            {
                ids_before.insert(*partition, id);
            }
        }
        Ok(Log {
            partitions,
            ends,
            ids_before,
        })
    })
    .await
    .map_err(|e| kafka::Error::Task("asking the broker", e))?
}

/// Moves the position of every partition whose log was replaced (`stored` against
/// `log`) back to the partition's start, in Postgres and in `positions`; whether any
/// moved. A partition the broker could not answer for is left as it is.
async fn rewind_replaced(
    kafka: &KafkaConfig,
    session: &mut Session,
    positions: &Positions,
    stored: &HashMap<i32, Position>,
    log: &Log,
) -> Result<bool, Error> {
    let replaced: Vec<(i32, i64)> = log
        .ends
        .iter()
        .filter(|(partition, (_, high))| {
            let Some(position) = stored.get(partition) else {
                return false;
            };
            // Past the end, or a record there that is not the event read there.
            position.next_offset > *high
                || log
                    .ids_before
                    .get(partition)
                    .is_some_and(|found| *found != position.last_event_id)
        })
        .map(|(partition, (low, _))| (*partition, *low))
        .collect();
    for (partition, start) in &replaced {
        tracing::warn!(
            topic = %kafka.topic,
            partition,
            "the topic no longer holds the events the intake read (recreated, or the broker \
             lost its log): reading the partition again from its start"
        );
        let (topic, partition, start) = (kafka.topic.clone(), *partition, *start);
        session
            .run(move |conn| intake_offsets::store(conn, &topic, partition, Position::start(start)))
            .await?;
        positions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(partition, Position::start(start));
    }
    Ok(!replaced.is_empty())
}

/// The record at `offset` of `partition`: `Some(its event id)`, or `None` when it could
/// not be fetched within the timeout.
fn fetch_event_id<C: ClientContext + rdkafka::consumer::ConsumerContext>(
    probe: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Option<Option<Uuid>> {
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Offset(offset))
        .ok()?;
    probe.assign(&list).ok()?;
    let deadline = Instant::now() + ASK_TIMEOUT;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match probe.poll(left) {
            Some(Ok(message)) if message.partition() == partition && message.offset() == offset => {
                return Some(event_id_of(&message));
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => {
                tracing::debug!(%error, partition, offset, "fetching a record to check a position");
                return None;
            }
            None => return None,
        }
    }
    None
}
