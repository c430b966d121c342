//! The `webhook_intake_offsets` table: per partition of the events topic, the offset of
//! the next event the webhook intake will read.

use std::collections::HashMap;

use diesel::dsl::now;
use diesel::prelude::*;

use super::schema::webhook_intake_offsets;
use crate::domain::Error;

/// The stored positions of `topic`'s partitions (partitions never read are absent).
pub fn positions(conn: &mut PgConnection, topic: &str) -> Result<HashMap<i32, i64>, Error> {
    Ok(webhook_intake_offsets::table
        .filter(webhook_intake_offsets::topic.eq(topic))
        .select((
            webhook_intake_offsets::partition,
            webhook_intake_offsets::next_offset,
        ))
        .load::<(i32, i64)>(conn)?
        .into_iter()
        .collect())
}

/// Moves a partition's position to `next_offset` (never backwards: a replica that lost
/// its lead without knowing cannot undo a newer position).
pub fn advance(
    conn: &mut PgConnection,
    topic: &str,
    partition: i32,
    next_offset: i64,
) -> Result<(), Error> {
    diesel::insert_into(webhook_intake_offsets::table)
        .values((
            webhook_intake_offsets::topic.eq(topic),
            webhook_intake_offsets::partition.eq(partition),
            webhook_intake_offsets::next_offset.eq(next_offset),
        ))
        .on_conflict((
            webhook_intake_offsets::topic,
            webhook_intake_offsets::partition,
        ))
        .do_update()
        .set((
            webhook_intake_offsets::next_offset.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "GREATEST(webhook_intake_offsets.next_offset, excluded.next_offset)",
            )),
            webhook_intake_offsets::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Moves a partition's position back to `next_offset`: the topic no longer holds what
/// the position was past (it was recreated, or the broker lost its log).
pub fn rewind(
    conn: &mut PgConnection,
    topic: &str,
    partition: i32,
    next_offset: i64,
) -> Result<(), Error> {
    diesel::update(
        webhook_intake_offsets::table
            .filter(webhook_intake_offsets::topic.eq(topic))
            .filter(webhook_intake_offsets::partition.eq(partition)),
    )
    .set((
        webhook_intake_offsets::next_offset.eq(next_offset),
        webhook_intake_offsets::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(())
}
