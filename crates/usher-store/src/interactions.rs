//! Pending login and consent interactions: the `interactions` table behind
//! [`InteractionStore`].
//!
//! The CSRF token of the current form is stored as a hash, and every use of it is a
//! single compare-and-set statement on that hash: [`InteractionStore::advance_interaction`]
//! is one `UPDATE … WHERE id = ? AND csrf_hash = ? AND expires_at > now` and
//! [`InteractionStore::finish_interaction`] the matching `DELETE`, so of two requests
//! carrying the same token exactly one proceeds. Interaction ids and hashes never appear
//! in error messages.
//!
//! A finished interaction is not deleted: its `csrf_hash` becomes
//! [`Interaction::SPENT`] and its request is dropped, and the row stays until it expires
//! (the purge removes it), so that [`InteractionStore::insert_interaction`] — an insert
//! that fails on an existing id — keeps refusing the sealed first form that created it.

use diesel::prelude::*;
use usher_domain::{
    AuthMethods, Interaction, InteractionStep, InteractionStore, StoreError, UnixTime, UserId,
};

use crate::database::{Database, corrupt, unavailable, unique_violation};
use crate::schema::interactions;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = interactions)]
struct InteractionRow {
    id: String,
    csrf_hash: String,
    step: String,
    request: String,
    user_id: Option<String>,
    auth_time: Option<i64>,
    created_at: i64,
    expires_at: i64,
    browser_hash: String,
    first_amr: Option<String>,
}

impl InteractionRow {
    fn from_domain(interaction: &Interaction) -> InteractionRow {
        InteractionRow {
            id: interaction.id.clone(),
            csrf_hash: interaction.csrf_hash.clone(),
            step: interaction.step.as_str().to_owned(),
            request: interaction.request.clone(),
            user_id: interaction.user_id.as_ref().map(|u| u.as_str().to_owned()),
            auth_time: interaction.auth_time.map(UnixTime::seconds),
            created_at: interaction.created_at.seconds(),
            expires_at: interaction.expires_at.seconds(),
            browser_hash: interaction.browser_hash.clone(),
            first_amr: interaction.first_amr.as_ref().map(AuthMethods::to_stored),
        }
    }

    fn into_domain(self) -> Result<Interaction, StoreError> {
        let step = InteractionStep::parse(&self.step).ok_or_else(|| {
            corrupt(format!(
                "an interaction has an unknown step {:?}",
                self.step
            ))
        })?;
        let user_id = self
            .user_id
            .map(|raw| {
                UserId::parse(&raw).ok_or_else(|| {
                    corrupt(format!("an interaction has an invalid user id {raw:?}"))
                })
            })
            .transpose()?;
        let first_amr = self
            .first_amr
            .map(|raw| {
                AuthMethods::parse_stored(&raw)
                    .ok_or_else(|| corrupt("an interaction has an invalid first_amr".to_owned()))
            })
            .transpose()?;
        Ok(Interaction {
            id: self.id,
            csrf_hash: self.csrf_hash,
            step,
            request: self.request,
            user_id,
            auth_time: self.auth_time.map(UnixTime),
            browser_hash: self.browser_hash,
            created_at: UnixTime(self.created_at),
            expires_at: UnixTime(self.expires_at),
            first_amr,
        })
    }
}

impl InteractionStore for Database {
    fn insert_interaction(&self, interaction: &Interaction) -> Result<bool, StoreError> {
        let row = InteractionRow::from_domain(interaction);
        let mut conn = self.conn()?;
        // The primary key decides: of two inserts of one id, the database lets one in.
        match diesel::insert_into(interactions::table)
            .values(&row)
            .execute(&mut *conn)
        {
            Ok(_) => Ok(true),
            Err(e) if unique_violation(&e).is_some() => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn get_interaction(&self, id: &str, now: UnixTime) -> Result<Option<Interaction>, StoreError> {
        let mut conn = self.conn()?;
        interactions::table
            .filter(interactions::id.eq(id))
            .filter(interactions::csrf_hash.ne(Interaction::SPENT))
            .filter(interactions::expires_at.gt(now.seconds()))
            .select(InteractionRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?
            .map(InteractionRow::into_domain)
            .transpose()
    }

    fn advance_interaction(
        &self,
        expected_csrf_hash: &str,
        next: &Interaction,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        if expected_csrf_hash == Interaction::SPENT || next.csrf_hash == Interaction::SPENT {
            return Ok(false);
        }
        let mut conn = self.conn()?;
        diesel::update(
            interactions::table
                .filter(interactions::id.eq(&next.id))
                .filter(interactions::csrf_hash.eq(expected_csrf_hash))
                .filter(interactions::expires_at.gt(now.seconds())),
        )
        .set((
            interactions::csrf_hash.eq(&next.csrf_hash),
            interactions::step.eq(next.step.as_str()),
            interactions::user_id.eq(next.user_id.as_ref().map(UserId::as_str)),
            interactions::auth_time.eq(next.auth_time.map(UnixTime::seconds)),
            interactions::first_amr.eq(next.first_amr.as_ref().map(AuthMethods::to_stored)),
        ))
        .execute(&mut *conn)
        .map(|updated| updated == 1)
        .map_err(unavailable)
    }

    fn finish_interaction(
        &self,
        id: &str,
        expected_csrf_hash: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        if expected_csrf_hash == Interaction::SPENT {
            return Ok(false);
        }
        let mut conn = self.conn()?;
        diesel::update(
            interactions::table
                .filter(interactions::id.eq(id))
                .filter(interactions::csrf_hash.eq(expected_csrf_hash))
                .filter(interactions::expires_at.gt(now.seconds())),
        )
        .set((
            interactions::csrf_hash.eq(Interaction::SPENT),
            interactions::request.eq(""),
        ))
        .execute(&mut *conn)
        .map(|finished| finished == 1)
        .map_err(unavailable)
    }

    fn spend_user_interactions(&self, user: &UserId) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(
            interactions::table
                .filter(interactions::user_id.eq(user.as_str()))
                .filter(interactions::csrf_hash.ne(Interaction::SPENT)),
        )
        .set((
            interactions::csrf_hash.eq(Interaction::SPENT),
            interactions::request.eq(""),
        ))
        .execute(&mut *conn)
        .map_err(unavailable)
    }
}
