//! The `webhook_intake_offsets` table: per partition of the events topic, where the
//! webhook intake reads next, and the id of the event it read last.

use std::collections::HashMap;

use diesel::dsl::now;
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::webhook_intake_offsets;
use crate::domain::Error;

/// Where the intake reads a partition next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The offset of the next event to read.
    pub next_offset: i64,
    /// The event at `next_offset - 1`, when known: the topic still holds what was read
    /// only if that offset still holds this event.
    pub last_event_id: Option<Uuid>,
}

impl Position {
    /// A partition's start: nothing read, nothing to compare.
    pub fn start(offset: i64) -> Self {
        Self {
            next_offset: offset,
            last_event_id: None,
        }
    }
}

/// The stored positions of `topic`'s partitions (partitions never read are absent).
pub fn positions(conn: &mut PgConnection, topic: &str) -> Result<HashMap<i32, Position>, Error> {
    Ok(webhook_intake_offsets::table
        .filter(webhook_intake_offsets::topic.eq(topic))
        .select((
            webhook_intake_offsets::partition,
            webhook_intake_offsets::next_offset,
            webhook_intake_offsets::last_event_id,
        ))
        .load::<(i32, i64, Option<Uuid>)>(conn)?
        .into_iter()
        .map(|(partition, next_offset, last_event_id)| {
            (
                partition,
                Position {
                    next_offset,
                    last_event_id,
                },
            )
        })
        .collect())
}

/// Stores a partition's position — forwards after an event, back to the start when the
/// topic was replaced. Only the intake leader writes, through the session that holds its
/// lock: a replica that lost the lead lost that connection, and cannot write.
pub fn store(
    conn: &mut PgConnection,
    topic: &str,
    partition: i32,
    position: Position,
) -> Result<(), Error> {
    let values = (
        webhook_intake_offsets::next_offset.eq(position.next_offset),
        webhook_intake_offsets::last_event_id.eq(position.last_event_id),
        webhook_intake_offsets::updated_at.eq(now),
    );
    diesel::insert_into(webhook_intake_offsets::table)
        .values((
            webhook_intake_offsets::topic.eq(topic),
            webhook_intake_offsets::partition.eq(partition),
            values,
        ))
        .on_conflict((
            webhook_intake_offsets::topic,
            webhook_intake_offsets::partition,
        ))
        .do_update()
        .set(values)
        .execute(conn)?;
    Ok(())
}
