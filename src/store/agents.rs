//! Agents in the database: their skills and devices ([`AgentProfile`],
//! [`AgentSkill`]), every state they entered ([`AgentStateChange`], with
//! its [`AgentStatus`]), their wrap-up of each call ([`Disposition`]), and
//! a customer's history as the screen pop shows it ([`Interaction`]).
//! Tables `agent_skills`, `agent_devices`, `agent_state_changes`,
//! `call_dispositions` and the ACD columns of `calls`
//! (`migrations/*/0005_agents_queues.sql`).
//!
//! Written once for both databases, like `users.rs`: one SQL text run by
//! `on_pool!` on either pool. An agent is a user (`users`) whose role is
//! `agent` or `supervisor`; skills and devices hang off the user's id and
//! go with the user. State changes are written by the record writer
//! ([`super::RecordEvent::AgentState`]), so the ACD never waits on the
//! database; a disposition is written directly
//! ([`Store::save_disposition`]), because the agent waits for the answer.
//!
//! Policy (who may change skills, what a device URI must look like) is in
//! the API and the ACD; this module checks only what keeps rows sane: a
//! skill's name and level ([`AgentSkill::check`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use super::model::{Direction, Outcome, RecordingStatus};
use super::sql::{on_pool, text};
use super::{Store, StoreError};
use crate::auth::Role;

/// Where an agent stands for the ACD. Stored as the lowercase text of
/// [`AgentStatus::as_str`] (the migration's `CHECK` lists the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Not logged in to the agent desktop.
    Offline,
    /// Waiting for a call.
    Available,
    /// A call is being offered (ringing the agent).
    Offered,
    /// On a call.
    OnCall,
    /// After a call, writing it up; no new call is offered.
    WrapUp,
    /// Logged in but not taking calls (break, training, a missed offer…;
    /// the state change's `reason` says which).
    NotReady,
}

impl AgentStatus {
    /// Every status, in catalog order.
    pub const ALL: [AgentStatus; 6] = [
        AgentStatus::Offline,
        AgentStatus::Available,
        AgentStatus::Offered,
        AgentStatus::OnCall,
        AgentStatus::WrapUp,
        AgentStatus::NotReady,
    ];

    /// The stored (and JSON) text: `offline`, `available`, `offered`,
    /// `on_call`, `wrap_up`, `not_ready`.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Offline => "offline",
            AgentStatus::Available => "available",
            AgentStatus::Offered => "offered",
            AgentStatus::OnCall => "on_call",
            AgentStatus::WrapUp => "wrap_up",
            AgentStatus::NotReady => "not_ready",
        }
    }

    /// Parses the stored text; `None` for anything else (exact match).
    pub fn parse(s: &str) -> Option<AgentStatus> {
        AgentStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that is not one of [`AgentStatus::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown agent status `{0}`: expected offline, available, offered, on_call, wrap_up or not_ready")]
pub struct UnknownAgentStatus(pub String);

impl FromStr for AgentStatus {
    type Err = UnknownAgentStatus;

    fn from_str(s: &str) -> Result<AgentStatus, UnknownAgentStatus> {
        AgentStatus::parse(s).ok_or_else(|| UnknownAgentStatus(s.to_owned()))
    }
}

/// A skill an agent has, at a level from [`AgentSkill::MIN_LEVEL`]
/// (novice) to [`AgentSkill::MAX_LEVEL`] (expert). Queues require skills
/// at a minimum level.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct AgentSkill {
    /// 1–64 characters: ASCII letters, digits, `_`, `-`, `.`.
    pub skill: String,
    pub level: u8,
}

/// Why an [`AgentSkill`] (or a list of them) is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SkillError {
    #[error("skill name {0:?}: 1 to 64 characters of ASCII letters, digits, `_`, `-` and `.`")]
    InvalidName(String),
    #[error("skill `{skill}`: level {level} is outside 1 to 10")]
    LevelOutOfRange { skill: String, level: u8 },
    #[error("skill `{0}` is listed twice")]
    Duplicate(String),
}

impl AgentSkill {
    pub const MIN_LEVEL: u8 = 1;
    pub const MAX_LEVEL: u8 = 10;
    /// The longest skill name, in characters.
    pub const MAX_NAME_CHARS: usize = 64;

    /// A checked skill.
    ///
    /// ```
    /// use hibiki::store::AgentSkill;
    /// assert!(AgentSkill::new("billing", 3).is_ok());
    /// assert!(AgentSkill::new("billing", 11).is_err());
    /// assert!(AgentSkill::new("two words", 3).is_err());
    /// ```
    pub fn new(skill: impl Into<String>, level: u8) -> Result<AgentSkill, SkillError> {
        let s = AgentSkill {
            skill: skill.into(),
            level,
        };
        s.check()?;
        Ok(s)
    }

    /// `Ok` when the name and the level are acceptable.
    pub fn check(&self) -> Result<(), SkillError> {
        let name_ok = !self.skill.is_empty()
            && self.skill.chars().count() <= AgentSkill::MAX_NAME_CHARS
            && self
                .skill
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !name_ok {
            return Err(SkillError::InvalidName(self.skill.clone()));
        }
        if !(AgentSkill::MIN_LEVEL..=AgentSkill::MAX_LEVEL).contains(&self.level) {
            return Err(SkillError::LevelOutOfRange {
                skill: self.skill.clone(),
                level: self.level,
            });
        }
        Ok(())
    }

    /// Checks every skill of a list and that no name appears twice.
    pub fn check_all(skills: &[AgentSkill]) -> Result<(), SkillError> {
        let mut seen = std::collections::HashSet::new();
        for s in skills {
            s.check()?;
            if !seen.insert(s.skill.as_str()) {
                return Err(SkillError::Duplicate(s.skill.clone()));
            }
        }
        Ok(())
    }
}

/// An agent as the ACD and the admin pages see them: an enabled user
/// whose role is `agent` or `supervisor`, with their skills (by name) and
/// their device (a SIP URI rung when a call is offered; `None`: the
/// browser softphone).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AgentProfile {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// Sorted by skill name.
    pub skills: Vec<AgentSkill>,
    pub sip_uri: Option<String>,
}

/// One state an agent entered. Written through the record writer
/// ([`super::RecordEvent::AgentState`]); idempotent on `id`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AgentStateChange {
    /// A uuid v4 string.
    pub id: String,
    /// The node whose ACD saw the change.
    pub node_id: String,
    pub username: String,
    pub status: AgentStatus,
    /// Why, when the state says little by itself: the not-ready reason
    /// code (`break`, `ring_no_answer`…).
    pub reason: Option<String>,
    /// The call the state is about (offered, on call, wrap-up).
    pub call_id: Option<String>,
    pub at_ms: i64,
}

/// An agent's wrap-up of a call: a disposition code and notes. One per
/// call and agent ([`Store::save_disposition`] replaces it).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Disposition {
    pub call_id: String,
    /// The agent's username.
    pub username: String,
    /// The customer the call was about, when known.
    pub customer_id: Option<String>,
    /// From the configured list of disposition codes.
    pub code: String,
    pub notes: String,
    pub at_ms: i64,
}

/// The recording of a call, as an interaction lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InteractionRecording {
    pub id: String,
    pub duration_ms: u64,
    pub status: RecordingStatus,
}

/// One call of a customer's history (the screen pop's "last contacts").
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Interaction {
    pub call_id: String,
    pub direction: Direction,
    pub from_number: String,
    pub to_number: String,
    pub started_at_ms: i64,
    pub answered_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub queue: Option<String>,
    /// The username of the agent who took the call.
    pub agent: Option<String>,
    pub outcome: Option<Outcome>,
    pub hangup_cause: Option<String>,
    /// Every agent's wrap-up of the call, oldest first.
    pub dispositions: Vec<Disposition>,
    /// The call's first recording, if it was recorded.
    pub recording: Option<InteractionRecording>,
}

/// The roles that make a user an agent here.
const AGENT_ROLES: &str = "('agent', 'supervisor')";

fn select_profiles(filter: &str) -> String {
    format!(
        "SELECT u.username, u.display_name, u.role, d.sip_uri FROM users u \
         LEFT JOIN agent_devices d ON d.user_id = u.id \
         WHERE u.disabled = $1 AND u.role IN {AGENT_ROLES} {filter} ORDER BY u.username"
    )
}

fn select_skills(filter: &str) -> String {
    format!(
        "SELECT u.username, s.skill, s.level FROM agent_skills s \
         JOIN users u ON u.id = s.user_id \
         WHERE u.disabled = $1 AND u.role IN {AGENT_ROLES} {filter} ORDER BY u.username, s.skill"
    )
}

const USER_ID_OF: &str = "SELECT id FROM users WHERE username = $1";

/// The first statement of the agents' write transactions: a write, so
/// SQLite takes the write lock at once. A deferred transaction that read
/// first would fail with `SQLITE_BUSY_SNAPSHOT` (517, which no busy
/// timeout retries) whenever another writer committed in between, as
/// happens when many agents are set up at once.
const TOUCH_USER_BY_NAME: &str = "UPDATE users SET updated_at_ms = $2 WHERE username = $1";

const DELETE_SKILLS: &str = "DELETE FROM agent_skills WHERE user_id = $1";

const INSERT_SKILL: &str = "INSERT INTO agent_skills (user_id, skill, level) VALUES ($1, $2, $3)";

const UPSERT_DEVICE: &str = "INSERT INTO agent_devices (user_id, sip_uri, updated_at_ms) \
     VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE SET \
     sip_uri = excluded.sip_uri, updated_at_ms = excluded.updated_at_ms";

const DELETE_DEVICE: &str = "DELETE FROM agent_devices WHERE user_id = $1";

/// Inserts a state change; a retried batch changes nothing.
pub(crate) const INSERT_AGENT_STATE: &str = "INSERT INTO agent_state_changes \
     (id, node_id, username, state, reason, call_id, at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING";

const SELECT_STATES: &str = "SELECT id, node_id, username, state, reason, call_id, at_ms \
     FROM agent_state_changes WHERE username = $1 AND at_ms >= $2 \
     ORDER BY at_ms DESC, id DESC LIMIT $3";

const UPSERT_DISPOSITION: &str = "INSERT INTO call_dispositions \
     (call_id, username, customer_id, code, notes, at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (call_id, username) DO UPDATE SET customer_id = excluded.customer_id, \
     code = excluded.code, notes = excluded.notes, at_ms = excluded.at_ms";

const DISPOSITION_COLUMNS: &str = "d.call_id, d.username, d.customer_id, d.code, d.notes, d.at_ms";

/// The calls of a customer, newest first: `$1` customer id, `$2` limit.
const CUSTOMER_CALLS: &str = "SELECT id FROM calls WHERE customer_id = $1 \
     ORDER BY started_at_ms DESC, id DESC LIMIT $2";

fn select_interaction_calls() -> String {
    "SELECT id, direction, from_number, to_number, started_at_ms, answered_at_ms, \
     ended_at_ms, queue, agent, outcome, hangup_cause FROM calls WHERE customer_id = $1 \
     ORDER BY started_at_ms DESC, id DESC LIMIT $2"
        .to_owned()
}

fn select_interaction_dispositions() -> String {
    format!(
        "SELECT {DISPOSITION_COLUMNS} FROM call_dispositions d \
         WHERE d.call_id IN ({CUSTOMER_CALLS}) ORDER BY d.at_ms, d.username"
    )
}

fn select_interaction_recordings() -> String {
    format!(
        "SELECT id, call_id, duration_ms, status FROM recordings \
         WHERE call_id IN ({CUSTOMER_CALLS}) ORDER BY started_at_ms, id"
    )
}

fn select_dispositions_of_call() -> String {
    format!(
        "SELECT {DISPOSITION_COLUMNS} FROM call_dispositions d WHERE d.call_id = $1 \
         ORDER BY d.at_ms, d.username"
    )
}

/// Binds an [`AgentStateChange`]'s seven columns, in
/// [`INSERT_AGENT_STATE`] order, to a `sqlx::query(..)` of either database.
macro_rules! bind_agent_state {
    ($query:expr, $r:expr) => {{
        let r: &$crate::store::AgentStateChange = $r;
        $query
            .bind($crate::store::sql::text(&r.id))
            .bind($crate::store::sql::text(&r.node_id))
            .bind($crate::store::sql::text(&r.username))
            .bind(r.status.as_str())
            .bind(r.reason.as_deref().map($crate::store::sql::text))
            .bind(r.call_id.as_deref().map($crate::store::sql::text))
            .bind(r.at_ms)
    }};
}
pub(crate) use bind_agent_state;

#[derive(sqlx::FromRow)]
struct ProfileRow {
    username: String,
    display_name: String,
    role: String,
    sip_uri: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SkillRow {
    username: String,
    skill: String,
    level: i32,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    id: String,
    node_id: String,
    username: String,
    state: String,
    reason: Option<String>,
    call_id: Option<String>,
    at_ms: i64,
}

#[derive(sqlx::FromRow)]
struct DispositionRow {
    call_id: String,
    username: String,
    customer_id: Option<String>,
    code: String,
    notes: String,
    at_ms: i64,
}

impl From<DispositionRow> for Disposition {
    fn from(r: DispositionRow) -> Disposition {
        Disposition {
            call_id: r.call_id,
            username: r.username,
            customer_id: r.customer_id,
            code: r.code,
            notes: r.notes,
            at_ms: r.at_ms,
        }
    }
}

#[derive(sqlx::FromRow)]
struct InteractionRow {
    id: String,
    direction: String,
    from_number: String,
    to_number: String,
    started_at_ms: i64,
    answered_at_ms: Option<i64>,
    ended_at_ms: Option<i64>,
    queue: Option<String>,
    agent: Option<String>,
    outcome: Option<String>,
    hangup_cause: Option<String>,
}

#[derive(sqlx::FromRow)]
struct InteractionRecordingRow {
    id: String,
    call_id: String,
    duration_ms: i64,
    status: String,
}

impl Store {
    /// Every agent: each enabled user whose role is `agent` or
    /// `supervisor`, by username, with skills and device.
    pub async fn agent_profiles(&self) -> Result<Vec<AgentProfile>, StoreError> {
        let (profiles, skills) = (select_profiles(""), select_skills(""));
        let (rows, skill_rows): (Vec<ProfileRow>, Vec<SkillRow>) = on_pool!(self, pool => {
            let rows = sqlx::query_as(&profiles).bind(false).fetch_all(pool).await?;
            let skill_rows = sqlx::query_as(&skills).bind(false).fetch_all(pool).await?;
            (rows, skill_rows)
        });
        profiles_from(rows, skill_rows)
    }

    /// One agent as [`Store::agent_profiles`] lists them: `None` when no
    /// enabled agent or supervisor has this username.
    pub async fn agent_profile(&self, username: &str) -> Result<Option<AgentProfile>, StoreError> {
        let filter = "AND u.username = $2";
        let (profiles, skills) = (select_profiles(filter), select_skills(filter));
        let (rows, skill_rows): (Vec<ProfileRow>, Vec<SkillRow>) = on_pool!(self, pool => {
            let rows = sqlx::query_as(&profiles)
                .bind(false)
                .bind(text(username))
                .fetch_all(pool)
                .await?;
            let skill_rows = sqlx::query_as(&skills)
                .bind(false)
                .bind(text(username))
                .fetch_all(pool)
                .await?;
            (rows, skill_rows)
        });
        Ok(profiles_from(rows, skill_rows)?.into_iter().next())
    }

    /// Replaces every skill of the user `username` with `skills`, in one
    /// transaction (an empty list removes them all), and sets the user's
    /// updated time to `now_ms`. False when there is no such user. A bad
    /// name or level, or a name listed twice, is
    /// [`StoreError::Invalid`] and writes nothing.
    pub async fn set_agent_skills(
        &self,
        username: &str,
        skills: &[AgentSkill],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        AgentSkill::check_all(skills).map_err(|e| StoreError::Invalid {
            table: "agent_skills",
            reason: e.to_string(),
        })?;
        let found = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(TOUCH_USER_BY_NAME)
                .bind(text(username))
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            let user: Option<(String,)> = sqlx::query_as(USER_ID_OF)
                .bind(text(username))
                .fetch_optional(&mut *tx)
                .await?;
            match user {
                None => {
                    tx.rollback().await?;
                    false
                }
                Some((user_id,)) => {
                    sqlx::query(DELETE_SKILLS).bind(&user_id).execute(&mut *tx).await?;
                    for s in skills {
                        sqlx::query(INSERT_SKILL)
                            .bind(&user_id)
                            .bind(text(&s.skill))
                            .bind(i32::from(s.level))
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    true
                }
            }
        });
        Ok(found)
    }

    /// Sets (`Some`) or removes (`None`: the browser softphone) the SIP
    /// URI the user `username` takes calls on, and sets the user's updated
    /// time to `now_ms`. The URI is stored as given: the caller checks it.
    /// False when there is no such user.
    pub async fn set_agent_device(
        &self,
        username: &str,
        sip_uri: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let found = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(TOUCH_USER_BY_NAME)
                .bind(text(username))
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            let user: Option<(String,)> = sqlx::query_as(USER_ID_OF)
                .bind(text(username))
                .fetch_optional(&mut *tx)
                .await?;
            match user {
                None => {
                    tx.rollback().await?;
                    false
                }
                Some((user_id,)) => {
                    match sip_uri {
                        Some(uri) => {
                            sqlx::query(UPSERT_DEVICE)
                                .bind(&user_id)
                                .bind(text(uri))
                                .bind(now_ms)
                                .execute(&mut *tx)
                                .await?;
                        }
                        None => {
                            sqlx::query(DELETE_DEVICE).bind(&user_id).execute(&mut *tx).await?;
                        }
                    }
                    tx.commit().await?;
                    true
                }
            }
        });
        Ok(found)
    }

    /// The state changes of `username` at or after `since_ms`, newest
    /// first (then by id, descending), at most `limit`.
    pub async fn agent_state_changes(
        &self,
        username: &str,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<AgentStateChange>, StoreError> {
        let rows: Vec<StateRow> = on_pool!(self, pool => {
            sqlx::query_as(SELECT_STATES)
                .bind(text(username))
                .bind(since_ms)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|r| {
                let status = AgentStatus::parse(&r.state).ok_or_else(|| StoreError::Corrupt {
                    table: "agent_state_changes",
                    id: r.id.clone(),
                    reason: format!("unknown state {:?}", r.state),
                })?;
                Ok(AgentStateChange {
                    id: r.id,
                    node_id: r.node_id,
                    username: r.username,
                    status,
                    reason: r.reason,
                    call_id: r.call_id,
                    at_ms: r.at_ms,
                })
            })
            .collect()
    }

    /// Saves an agent's wrap-up of a call: inserts it, or replaces the
    /// one the same agent saved for the same call (customer, code, notes
    /// and time).
    pub async fn save_disposition(&self, d: &Disposition) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(UPSERT_DISPOSITION)
                .bind(text(&d.call_id))
                .bind(text(&d.username))
                .bind(d.customer_id.as_deref().map(text))
                .bind(text(&d.code))
                .bind(text(&d.notes))
                .bind(d.at_ms)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Every disposition of a call, oldest first.
    pub async fn dispositions_for_call(
        &self,
        call_id: &str,
    ) -> Result<Vec<Disposition>, StoreError> {
        let sql = select_dispositions_of_call();
        let rows: Vec<DispositionRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(text(call_id)).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Disposition::from).collect())
    }

    /// The `limit` latest calls of a customer (`calls.customer_id`),
    /// newest first, each with its dispositions and its first recording.
    pub async fn customer_interactions(
        &self,
        customer_id: &str,
        limit: u32,
    ) -> Result<Vec<Interaction>, StoreError> {
        let (calls_sql, disp_sql, rec_sql) = (
            select_interaction_calls(),
            select_interaction_dispositions(),
            select_interaction_recordings(),
        );
        let limit = i64::from(limit);
        let (calls, dispositions, recordings): (
            Vec<InteractionRow>,
            Vec<DispositionRow>,
            Vec<InteractionRecordingRow>,
        ) = on_pool!(self, pool => {
            let calls = sqlx::query_as(&calls_sql)
                .bind(text(customer_id))
                .bind(limit)
                .fetch_all(pool)
                .await?;
            let dispositions = sqlx::query_as(&disp_sql)
                .bind(text(customer_id))
                .bind(limit)
                .fetch_all(pool)
                .await?;
            let recordings = sqlx::query_as(&rec_sql)
                .bind(text(customer_id))
                .bind(limit)
                .fetch_all(pool)
                .await?;
            (calls, dispositions, recordings)
        });
        let mut by_call: HashMap<String, Vec<Disposition>> = HashMap::new();
        for d in dispositions {
            by_call
                .entry(d.call_id.clone())
                .or_default()
                .push(Disposition::from(d));
        }
        let mut first_recording: HashMap<String, InteractionRecording> = HashMap::new();
        for r in recordings {
            if first_recording.contains_key(&r.call_id) {
                continue;
            }
            let corrupt = |reason: String| StoreError::Corrupt {
                table: "recordings",
                id: r.id.clone(),
                reason,
            };
            let status = RecordingStatus::parse(&r.status)
                .ok_or_else(|| corrupt(format!("unknown status {:?}", r.status)))?;
            let duration_ms = u64::try_from(r.duration_ms)
                .map_err(|_| corrupt(format!("negative duration {}", r.duration_ms)))?;
            first_recording.insert(
                r.call_id.clone(),
                InteractionRecording {
                    id: r.id,
                    duration_ms,
                    status,
                },
            );
        }
        calls
            .into_iter()
            .map(|c| {
                let corrupt = |reason: String| StoreError::Corrupt {
                    table: "calls",
                    id: c.id.clone(),
                    reason,
                };
                let direction = Direction::parse(&c.direction)
                    .ok_or_else(|| corrupt(format!("unknown direction {:?}", c.direction)))?;
                let outcome = match c.outcome.as_deref() {
                    None => None,
                    Some(s) => Some(
                        Outcome::parse(s)
                            .ok_or_else(|| corrupt(format!("unknown outcome {s:?}")))?,
                    ),
                };
                Ok(Interaction {
                    dispositions: by_call.remove(&c.id).unwrap_or_default(),
                    recording: first_recording.remove(&c.id),
                    call_id: c.id,
                    direction,
                    from_number: c.from_number,
                    to_number: c.to_number,
                    started_at_ms: c.started_at_ms,
                    answered_at_ms: c.answered_at_ms,
                    ended_at_ms: c.ended_at_ms,
                    queue: c.queue,
                    agent: c.agent,
                    outcome,
                    hangup_cause: c.hangup_cause,
                })
            })
            .collect()
    }
}

/// Joins profile rows with their skill rows (both ordered by username).
fn profiles_from(
    rows: Vec<ProfileRow>,
    skill_rows: Vec<SkillRow>,
) -> Result<Vec<AgentProfile>, StoreError> {
    let mut skills: BTreeMap<String, Vec<AgentSkill>> = BTreeMap::new();
    for s in skill_rows {
        let level = u8::try_from(s.level).map_err(|_| StoreError::Corrupt {
            table: "agent_skills",
            id: format!("{}/{}", s.username, s.skill),
            reason: format!("level {} out of range", s.level),
        })?;
        skills.entry(s.username).or_default().push(AgentSkill {
            skill: s.skill,
            level,
        });
    }
    rows.into_iter()
        .map(|r| {
            let role = r.role.parse().map_err(|_| StoreError::Corrupt {
                table: "users",
                id: r.username.clone(),
                reason: format!("unknown role {:?}", r.role),
            })?;
            Ok(AgentProfile {
                skills: skills.remove(&r.username).unwrap_or_default(),
                username: r.username,
                display_name: r.display_name,
                role,
                sip_uri: r.sip_uri,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_text_and_json() {
        let texts: Vec<&str> = AgentStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            texts,
            [
                "offline",
                "available",
                "offered",
                "on_call",
                "wrap_up",
                "not_ready"
            ]
        );
        for st in AgentStatus::ALL {
            assert_eq!(AgentStatus::parse(st.as_str()), Some(st));
            assert_eq!(st.as_str().parse::<AgentStatus>(), Ok(st));
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{st}\""));
            assert_eq!(serde_json::from_str::<AgentStatus>(&json).unwrap(), st);
        }
        assert_eq!(AgentStatus::parse("OnCall"), None);
        assert_eq!(
            "busy".parse::<AgentStatus>(),
            Err(UnknownAgentStatus("busy".into()))
        );
    }

    #[test]
    fn skills_are_checked() {
        for ok in [("support", 1), ("billing.jp", 10), ("lang-ja_2", 5)] {
            AgentSkill::new(ok.0, ok.1).unwrap();
        }
        let long = "s".repeat(65);
        for (name, level) in [("", 3), ("two words", 3), ("日本語", 3), (long.as_str(), 3)] {
            assert!(matches!(
                AgentSkill::new(name, level),
                Err(SkillError::InvalidName(_))
            ));
        }
        for level in [0, 11, 255] {
            assert!(matches!(
                AgentSkill::new("support", level),
                Err(SkillError::LevelOutOfRange { .. })
            ));
        }
        let twice = [
            AgentSkill::new("a", 1).unwrap(),
            AgentSkill::new("a", 2).unwrap(),
        ];
        assert_eq!(
            AgentSkill::check_all(&twice),
            Err(SkillError::Duplicate("a".into()))
        );
    }
}
