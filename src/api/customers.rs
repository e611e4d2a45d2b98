//! `/api/v1/customers`: the customers agents see in the screen pop, and
//! what they do with them. Create, read, update (`PATCH`), search by
//! phone (normalised to E.164 with `customers.default_region`, like the
//! IVR's caller-id lookup) or by name, the customer's last interactions
//! (calls with their dispositions and recording), and a CSV import
//! (`crate::customer::import`).
//!
//! Agents and up read, search, create and update; the import, which can
//! touch thousands of rows, is for managers and admins. A phone number
//! belongs to one customer: giving one that another customer has is 409,
//! naming that customer.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use serde::{Deserialize, Deserializer, Serialize};

use super::auth::Caller;
use super::error::{ApiError, Json};
use super::{rfc3339_ms, ApiState};
use crate::auth::Role;
use crate::customer::import::{
    self, check_fields, normalise_phones, owner_message, ImportError, ImportReport,
};
use crate::customer::normalise_phone;
use crate::store::{
    now_ms, Customer, Direction, Disposition, Interaction, Outcome, RecordingStatus, Store,
    StoreError,
};

/// Who may read, search, create and update customers.
const EDITORS: &[Role] = &[Role::Agent, Role::Supervisor, Role::Manager, Role::Admin];

/// Who may import.
const IMPORTERS: &[Role] = &[Role::Manager, Role::Admin];

/// The largest CSV body an import takes (`POST /customers/import`).
pub const IMPORT_MAX_BYTES: usize = 5 * 1024 * 1024;

/// Search `limit` by default, and the most it may be.
const DEFAULT_SEARCH_LIMIT: u32 = 20;
const MAX_SEARCH_LIMIT: u32 = 100;

/// Interactions `limit` by default, and the most it may be.
const DEFAULT_INTERACTIONS: u32 = 5;
const MAX_INTERACTIONS: u32 = 50;

/// The longest `name_prompt`, in characters.
const MAX_PROMPT_CHARS: usize = 128;

/// What the handlers here read from the state.
#[derive(Clone)]
pub struct CustomersState {
    pub store: Store,
    /// `customers.default_region`: how national numbers read.
    pub default_region: String,
}

impl FromRef<ApiState> for CustomersState {
    fn from_ref(state: &ApiState) -> CustomersState {
        CustomersState {
            store: state.store.clone(),
            default_region: state.default_region.clone(),
        }
    }
}

/// A customer as the API shows it (the store's [`Customer`]).
pub type CustomerView = Customer;

/// The body of `POST /api/v1/customers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    pub name: String,
    /// Any form `customers.default_region` reads; stored as E.164.
    #[serde(default)]
    pub phones: Vec<String>,
    pub email: Option<String>,
    #[serde(default)]
    pub notes: String,
    pub name_prompt: Option<String>,
}

/// The body of `PATCH /api/v1/customers/{id}`: absent fields are kept;
/// `email` and `name_prompt` may be `null` (removed); `phones` replaces
/// the whole list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomer {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub email: Option<Option<String>>,
    pub notes: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub name_prompt: Option<Option<String>>,
    pub phones: Option<Vec<String>>,
}

/// A field that is present (maybe `null`): `Some(value)`; absent fields
/// get the `default` (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The query of `GET /api/v1/customers`.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    pub phone: Option<String>,
    pub q: Option<String>,
    pub limit: Option<String>,
    pub offset: Option<String>,
}

/// The query of `GET /api/v1/customers/{id}/interactions`.
#[derive(Debug, Deserialize)]
pub struct InteractionsQuery {
    pub limit: Option<String>,
}

/// A disposition as an interaction shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispositionView {
    pub username: String,
    pub code: String,
    pub notes: String,
    /// RFC 3339.
    pub at: String,
}

impl From<&Disposition> for DispositionView {
    fn from(d: &Disposition) -> DispositionView {
        DispositionView {
            username: d.username.clone(),
            code: d.code.clone(),
            notes: d.notes.clone(),
            at: rfc3339_ms(d.at_ms),
        }
    }
}

/// A recording as an interaction shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionRecordingView {
    pub id: String,
    pub duration_ms: u64,
    pub status: RecordingStatus,
    /// Metadata: `GET`; the WAV is at `…/audio`.
    pub url: String,
}

/// One past call of a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionView {
    pub call_id: String,
    pub direction: Direction,
    pub from_number: String,
    pub to_number: String,
    /// RFC 3339.
    pub started_at: String,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub outcome: Option<Outcome>,
    pub hangup_cause: Option<String>,
    /// Oldest first.
    pub dispositions: Vec<DispositionView>,
    pub recording: Option<InteractionRecordingView>,
}

impl From<&Interaction> for InteractionView {
    fn from(i: &Interaction) -> InteractionView {
        InteractionView {
            call_id: i.call_id.clone(),
            direction: i.direction,
            from_number: i.from_number.clone(),
            to_number: i.to_number.clone(),
            started_at: rfc3339_ms(i.started_at_ms),
            answered_at: i.answered_at_ms.map(rfc3339_ms),
            ended_at: i.ended_at_ms.map(rfc3339_ms),
            queue: i.queue.clone(),
            agent: i.agent.clone(),
            outcome: i.outcome,
            hangup_cause: i.hangup_cause.clone(),
            dispositions: i.dispositions.iter().map(DispositionView::from).collect(),
            recording: i.recording.as_ref().map(|r| InteractionRecordingView {
                id: r.id.clone(),
                duration_ms: r.duration_ms,
                status: r.status,
                url: format!("/api/v1/recordings/{}", r.id),
            }),
        }
    }
}

/// `POST /api/v1/customers`: 201 with the customer (a new uuid id,
/// numbers in E.164); 422 for an empty name, a number the default region
/// cannot read, a field too long; 409 when a number belongs to another
/// customer (the message names them).
pub async fn create(
    State(state): State<CustomersState>,
    caller: Caller,
    Json(body): Json<CreateCustomer>,
) -> Result<(StatusCode, axum::Json<CustomerView>), ApiError> {
    caller.require(EDITORS)?;
    let email = body.email.filter(|e| !e.trim().is_empty());
    check_fields(&body.name, email.as_deref(), &body.notes).map_err(ApiError::invalid)?;
    check_prompt(body.name_prompt.as_deref())?;
    let phones = normalise_phones(
        body.phones.iter().map(String::as_str),
        &state.default_region,
    )
    .map_err(ApiError::invalid)?;
    let customer = Customer {
        id: uuid::Uuid::new_v4().to_string(),
        name: body.name.trim().to_owned(),
        name_prompt: body.name_prompt,
        email: email.map(|e| e.trim().to_owned()),
        notes: body.notes,
        phones,
    };
    match state.store.create_customer(&customer, now_ms()).await {
        Ok(()) => {}
        Err(e) => return Err(write_refused(&state.store, e).await),
    }
    tracing::info!(customer = %customer.id, by = %caller.username, "customer created");
    Ok((StatusCode::CREATED, axum::Json(customer)))
}

/// `GET /api/v1/customers/{id}`: 404 when none has the id.
pub async fn get(
    State(state): State<CustomersState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<CustomerView>, ApiError> {
    caller.require(EDITORS)?;
    Ok(axum::Json(find(&state.store, &id).await?))
}

/// `PATCH /api/v1/customers/{id}`: 200 with the customer as stored; the
/// same refusals as the creation, and 404 when none has the id.
pub async fn update(
    State(state): State<CustomersState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UpdateCustomer>,
) -> Result<axum::Json<CustomerView>, ApiError> {
    caller.require(EDITORS)?;
    let mut customer = find(&state.store, &id).await?;
    if let Some(name) = body.name {
        customer.name = name.trim().to_owned();
    }
    if let Some(email) = body.email {
        customer.email = email.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty());
    }
    if let Some(notes) = body.notes {
        customer.notes = notes;
    }
    if let Some(prompt) = body.name_prompt {
        check_prompt(prompt.as_deref())?;
        customer.name_prompt = prompt;
    }
    if let Some(phones) = body.phones {
        customer.phones =
            normalise_phones(phones.iter().map(String::as_str), &state.default_region)
                .map_err(ApiError::invalid)?;
    }
    check_fields(&customer.name, customer.email.as_deref(), &customer.notes)
        .map_err(ApiError::invalid)?;
    match state.store.update_customer(&customer, now_ms()).await {
        Ok(true) => {}
        Ok(false) => return Err(not_found(&id)),
        Err(e) => return Err(write_refused(&state.store, e).await),
    }
    tracing::info!(customer = %id, by = %caller.username, "customer updated");
    Ok(axum::Json(find(&state.store, &id).await?))
}

/// `GET /api/v1/customers?phone=…` (the customer with that number, in
/// any form the default region reads: a list of zero or one) or
/// `?q=…&limit=&offset=` (names containing `q`, ignoring case, by name).
/// 422 for neither or both, an unreadable number, a bad limit or offset.
pub async fn search(
    State(state): State<CustomersState>,
    caller: Caller,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<axum::Json<Vec<CustomerView>>, ApiError> {
    caller.require(EDITORS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    match (query.phone.as_deref(), query.q.as_deref()) {
        (Some(phone), None) => {
            let e164 = normalise_phone(phone, &state.default_region).ok_or_else(|| {
                ApiError::invalid(format!(
                    "phone {phone:?} is not a phone number (region {})",
                    state.default_region
                ))
            })?;
            let found = state.store.customer_by_phone(&e164).await?;
            Ok(axum::Json(found.into_iter().collect()))
        }
        (None, Some(q)) => {
            let q = q.trim();
            if q.is_empty() || q.chars().count() > 200 {
                return Err(ApiError::invalid("q: 1 to 200 characters"));
            }
            let limit = number(
                query.limit.as_deref(),
                "limit",
                DEFAULT_SEARCH_LIMIT,
                1,
                MAX_SEARCH_LIMIT,
            )?;
            let offset = number(query.offset.as_deref(), "offset", 0, 0, 1_000_000)?;
            Ok(axum::Json(
                state.store.search_customers(q, limit, offset).await?,
            ))
        }
        _ => Err(ApiError::invalid(
            "give exactly one of `phone` (a number) or `q` (part of a name)",
        )),
    }
}

/// `GET /api/v1/customers/{id}/interactions?limit=5`: the customer's
/// latest calls, newest first (limit 1–50, default 5); 404 when no
/// customer has the id.
pub async fn interactions(
    State(state): State<CustomersState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<InteractionsQuery>, QueryRejection>,
) -> Result<axum::Json<Vec<InteractionView>>, ApiError> {
    caller.require(EDITORS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = number(
        query.limit.as_deref(),
        "limit",
        DEFAULT_INTERACTIONS,
        1,
        MAX_INTERACTIONS,
    )?;
    find(&state.store, &id).await?;
    let found = state.store.customer_interactions(&id, limit).await?;
    Ok(axum::Json(
        found.iter().map(InteractionView::from).collect(),
    ))
}

/// `POST /api/v1/customers/import` with a `text/csv` body (at most
/// [`IMPORT_MAX_BYTES`]): 200 `{created, updated, errors: [{row,
/// reason}]}`; 415 for another content type, 413 for a body too large,
/// 422 for a file that cannot be read at all (not UTF-8, broken quotes,
/// a bad header, too many rows).
pub async fn import(
    State(state): State<CustomersState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<ImportReport>, ApiError> {
    caller.require(IMPORTERS)?;
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"));
    if !is_csv {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file as `text/csv`",
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request(e.body_text())
        }
    })?;
    if body.len() > IMPORT_MAX_BYTES {
        return Err(too_large());
    }
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::invalid(format!("the file is not UTF-8: {e}")))?;
    match import::import_csv(&state.store, text, &state.default_region, now_ms()).await {
        Ok(report) => {
            tracing::info!(
                by = %caller.username,
                created = report.created,
                updated = report.updated,
                refused = report.errors.len(),
                "customers imported"
            );
            Ok(axum::Json(report))
        }
        Err(ImportError::Store(e)) => Err(e.into()),
        Err(e) => Err(ApiError::invalid(e.to_string())),
    }
}

/// 413, in the API's shape.
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the file is over {} MB", IMPORT_MAX_BYTES / (1024 * 1024)),
    )
}

async fn find(store: &Store, id: &str) -> Result<Customer, ApiError> {
    store.customer(id).await?.ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no customer has id `{id}`"))
}

fn check_prompt(prompt: Option<&str>) -> Result<(), ApiError> {
    match prompt {
        Some(p)
            if p.is_empty()
                || p.chars().count() > MAX_PROMPT_CHARS
                || !p
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                || p.starts_with('.') =>
        {
            Err(ApiError::invalid(format!(
                "name_prompt {p:?}: a prompt name (letters, digits, `-`, `_`, `.`)"
            )))
        }
        _ => Ok(()),
    }
}

/// A customer write the store refused: 409 naming the owner of a taken
/// number, otherwise the store's error.
async fn write_refused(store: &Store, e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict {
            table: "customer_phones",
            key,
        } => {
            let number = key.strip_prefix("number ").unwrap_or(&key);
            ApiError::conflict(owner_message(store, number).await)
        }
        StoreError::Conflict { key, .. } => {
            ApiError::conflict(format!("a customer with {key} exists"))
        }
        e => e.into(),
    }
}

/// A query number: `default` when absent or empty, else `min..=max`.
pub(super) fn number(
    raw: Option<&str>,
    name: &str,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, ApiError> {
    match raw {
        None | Some("") => Ok(default),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| ApiError::invalid(format!("{name} {s:?}: expected {min} to {max}"))),
    }
}
