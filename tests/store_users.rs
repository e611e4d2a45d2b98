//! The store contract for users and API tokens: every case runs against
//! SQLite (a temp file) and PostgreSQL (a fresh `hibiki_test_<random>`
//! database on 127.0.0.1:5432, dropped afterwards, also when the case
//! fails), like `tests/store_contract.rs`.
//!
//! When PostgreSQL does not answer, its half prints
//! `SKIPPED postgres: <reason>` and passes — unless
//! `HIBIKI_TEST_POSTGRES=required` (as `scripts/test.sh` sets in CI), in
//! which case it fails. `HIBIKI_TEST_POSTGRES_URL` points the tests at
//! another server.

#[macro_use]
mod store_harness;

use hibiki::auth::{self, Hasher, NewAccount, Role, Token, TokenHash};
use hibiki::store::{Store, StoreError, TokenRecord, UserRecord};

contract!(
    a_user_round_trips_every_field,
    a_taken_username_is_a_conflict_and_writes_nothing,
    users_are_listed_by_username_and_counted,
    a_token_is_found_with_its_user_by_hash_only,
    revoking_a_token_is_once,
    a_password_change_revokes_every_token_of_that_user_only,
    disabling_revokes_tokens_and_enabling_does_not_bring_them_back,
    purging_deletes_only_tokens_expired_before_the_instant,
    a_token_needs_an_existing_user,
    accounts_are_checked_hashed_and_conflict_on_a_taken_name,
    demo_users_are_created_once_on_an_empty_table,
);

// ---------------------------------------------------------------- fixtures

fn user(id: &str, username: &str, role: Role) -> UserRecord {
    UserRecord {
        id: id.to_owned(),
        username: username.to_owned(),
        display_name: format!("{username} display"),
        role,
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$fake${id}"),
        disabled: false,
        created_at_ms: 1_700_000_000_000,
        updated_at_ms: 1_700_000_000_000,
    }
}

fn token(user_id: &str, expires_at_ms: i64) -> (Token, TokenRecord) {
    let t = Token::generate();
    let record = TokenRecord {
        token_hash: t.hash(),
        user_id: user_id.to_owned(),
        created_at_ms: expires_at_ms - 1000,
        expires_at_ms,
        revoked: false,
    };
    (t, record)
}

// ------------------------------------------------------------------- cases

async fn a_user_round_trips_every_field(store: Store) {
    let mut u = user("u-1", "jane.doe", Role::Supervisor);
    u.display_name = "Jane Doe — nuit".to_owned();
    u.disabled = true;
    u.updated_at_ms = u.created_at_ms + 5;
    store.create_user(&u).await.unwrap();
    assert_eq!(
        store.user_by_username("jane.doe").await.unwrap(),
        Some(u.clone())
    );
    assert_eq!(store.user_by_id("u-1").await.unwrap(), Some(u));
    assert_eq!(store.user_by_username("Jane.Doe").await.unwrap(), None);
    assert_eq!(store.user_by_id("u-2").await.unwrap(), None);
    for role in Role::ALL {
        let id = format!("r-{role}");
        store
            .create_user(&user(&id, role.as_str(), role))
            .await
            .unwrap();
        let back = store.user_by_id(&id).await.unwrap().unwrap();
        assert_eq!(back.role, role);
        assert!(!back.disabled);
    }
}

async fn a_taken_username_is_a_conflict_and_writes_nothing(store: Store) {
    store
        .create_user(&user("u-1", "alice", Role::Agent))
        .await
        .unwrap();
    let err = store
        .create_user(&user("u-2", "alice", Role::Admin))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { table: "users", .. }),
        "{err:?}"
    );
    assert!(err.is_permanent());
    assert_eq!(store.count_users().await.unwrap(), 1);
    let alice = store.user_by_username("alice").await.unwrap().unwrap();
    assert_eq!((alice.id.as_str(), alice.role), ("u-1", Role::Agent));
    assert_eq!(store.user_by_id("u-2").await.unwrap(), None);
}

async fn users_are_listed_by_username_and_counted(store: Store) {
    assert_eq!(store.count_users().await.unwrap(), 0);
    assert!(store.users().await.unwrap().is_empty());
    for (id, name) in [("1", "zoe"), ("2", "adam"), ("3", "mia")] {
        store
            .create_user(&user(id, name, Role::Agent))
            .await
            .unwrap();
    }
    let names: Vec<String> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["adam", "mia", "zoe"]);
    assert_eq!(store.count_users().await.unwrap(), 3);
}

async fn a_token_is_found_with_its_user_by_hash_only(store: Store) {
    let u = user("u-1", "alice", Role::Manager);
    store.create_user(&u).await.unwrap();
    let (t, record) = token("u-1", 2_000_000_000_000);
    store.insert_token(&record).await.unwrap();
    let (found, owner) = store.token_with_user(&t.hash()).await.unwrap().unwrap();
    assert_eq!(found, record);
    assert_eq!(owner, u);
    // The table holds the hash, never the token text.
    assert_eq!(
        store
            .token_with_user(&TokenHash::from_stored(t.expose().to_owned()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .token_with_user(&TokenHash::of("other"))
            .await
            .unwrap(),
        None
    );
}

async fn revoking_a_token_is_once(store: Store) {
    store
        .create_user(&user("u-1", "alice", Role::Agent))
        .await
        .unwrap();
    let (t, record) = token("u-1", 2_000_000_000_000);
    store.insert_token(&record).await.unwrap();
    assert!(store.revoke_token(&t.hash()).await.unwrap());
    assert!(
        !store.revoke_token(&t.hash()).await.unwrap(),
        "already revoked"
    );
    assert!(!store.revoke_token(&TokenHash::of("unknown")).await.unwrap());
    let (found, _) = store.token_with_user(&t.hash()).await.unwrap().unwrap();
    assert!(found.revoked);
}

async fn a_password_change_revokes_every_token_of_that_user_only(store: Store) {
    store
        .create_user(&user("u-1", "alice", Role::Agent))
        .await
        .unwrap();
    store
        .create_user(&user("u-2", "bob", Role::Agent))
        .await
        .unwrap();
    let (a1, r1) = token("u-1", 2_000_000_000_000);
    let (a2, r2) = token("u-1", 2_000_000_000_000);
    let (b1, rb) = token("u-2", 2_000_000_000_000);
    for r in [&r1, &r2, &rb] {
        store.insert_token(r).await.unwrap();
    }
    assert!(store
        .set_password_hash("alice", "$argon2id$new", 1_800_000_000_000)
        .await
        .unwrap());
    let alice = store.user_by_username("alice").await.unwrap().unwrap();
    assert_eq!(alice.password_hash, "$argon2id$new");
    assert_eq!(alice.updated_at_ms, 1_800_000_000_000);
    assert_eq!(alice.created_at_ms, 1_700_000_000_000);
    for t in [&a1, &a2] {
        let (found, _) = store.token_with_user(&t.hash()).await.unwrap().unwrap();
        assert!(found.revoked);
    }
    let (found, _) = store.token_with_user(&b1.hash()).await.unwrap().unwrap();
    assert!(!found.revoked, "bob's token is untouched");
    assert!(!store
        .set_password_hash("nobody", "$argon2id$x", 1)
        .await
        .unwrap());
}

async fn disabling_revokes_tokens_and_enabling_does_not_bring_them_back(store: Store) {
    store
        .create_user(&user("u-1", "alice", Role::Agent))
        .await
        .unwrap();
    let (t, record) = token("u-1", 2_000_000_000_000);
    store.insert_token(&record).await.unwrap();
    let alice = store
        .set_user_disabled("alice", true, 1_800_000_000_000)
        .await
        .unwrap()
        .unwrap();
    assert!(alice.disabled);
    assert_eq!(alice.updated_at_ms, 1_800_000_000_000);
    let (found, owner) = store.token_with_user(&t.hash()).await.unwrap().unwrap();
    assert!(found.revoked && owner.disabled);
    let alice = store
        .set_user_disabled("alice", false, 1_800_000_000_001)
        .await
        .unwrap()
        .unwrap();
    assert!(!alice.disabled);
    let (found, _) = store.token_with_user(&t.hash()).await.unwrap().unwrap();
    assert!(found.revoked, "a revoked token stays revoked");
    assert_eq!(
        store.set_user_disabled("nobody", true, 1).await.unwrap(),
        None
    );
}

async fn purging_deletes_only_tokens_expired_before_the_instant(store: Store) {
    store
        .create_user(&user("u-1", "alice", Role::Agent))
        .await
        .unwrap();
    let (old, r_old) = token("u-1", 1_000);
    let (edge, r_edge) = token("u-1", 2_000);
    let (live, r_live) = token("u-1", 3_000);
    for r in [&r_old, &r_edge, &r_live] {
        store.insert_token(r).await.unwrap();
    }
    assert_eq!(store.purge_expired_tokens(2_000).await.unwrap(), 1);
    assert_eq!(store.token_with_user(&old.hash()).await.unwrap(), None);
    assert!(store.token_with_user(&edge.hash()).await.unwrap().is_some());
    assert!(store.token_with_user(&live.hash()).await.unwrap().is_some());
    assert_eq!(store.purge_expired_tokens(2_000).await.unwrap(), 0);
}

async fn a_token_needs_an_existing_user(store: Store) {
    let (_, record) = token("no-such-user", 2_000_000_000_000);
    let err = store.insert_token(&record).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Database(sqlx::Error::Database(_))),
        "{err:?}"
    );
}

async fn accounts_are_checked_hashed_and_conflict_on_a_taken_name(store: Store) {
    let hasher = Hasher::new(1);
    let account = |username: &str, password: &str| NewAccount {
        username: username.to_owned(),
        display_name: None,
        role: Role::Agent,
        password: password.to_owned(),
    };
    let created = auth::create_account(&store, &hasher, account("carol", "long enough"))
        .await
        .unwrap();
    assert_eq!(created.display_name, "carol");
    assert!(created.password_hash.starts_with("$argon2id$"));
    assert!(auth::password::verify_password(
        "long enough",
        &created.password_hash
    ));
    let stored = store.user_by_username("carol").await.unwrap().unwrap();
    assert_eq!(stored, created);

    let taken = auth::create_account(&store, &hasher, account("carol", "another one"))
        .await
        .unwrap_err();
    assert!(
        matches!(taken, auth::AccountError::UsernameTaken(_)),
        "{taken}"
    );
    let short = auth::create_account(&store, &hasher, account("dave", "short"))
        .await
        .unwrap_err();
    assert!(
        short.is_bad_input() && short.to_string().contains("at least 8"),
        "{short}"
    );
    let bad = auth::create_account(&store, &hasher, account("Dave", "long enough"))
        .await
        .unwrap_err();
    assert!(
        matches!(bad, auth::AccountError::InvalidUsername(_)),
        "{bad}"
    );
    assert_eq!(store.count_users().await.unwrap(), 1);

    auth::change_password(&store, &hasher, "carol", "brand new pw".into())
        .await
        .unwrap();
    let changed = store.user_by_username("carol").await.unwrap().unwrap();
    assert!(auth::password::verify_password(
        "brand new pw",
        &changed.password_hash
    ));
    assert!(!auth::password::verify_password(
        "long enough",
        &changed.password_hash
    ));
    let missing = auth::change_password(&store, &hasher, "nobody", "brand new pw".into())
        .await
        .unwrap_err();
    assert!(
        matches!(missing, auth::AccountError::NoSuchUser(_)),
        "{missing}"
    );
}

async fn demo_users_are_created_once_on_an_empty_table(store: Store) {
    let hasher = Hasher::new(2);
    let created = auth::seed_demo_users(&store, &hasher).await.unwrap();
    let names: Vec<&str> = created.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(
        names,
        ["admin", "supervisor", "manager", "agent1", "agent2"]
    );
    for demo in &created {
        let stored = store
            .user_by_username(&demo.username)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.role, demo.role);
        assert!(auth::password::verify_password(
            &demo.password,
            &stored.password_hash
        ));
        assert!(!stored.password_hash.contains(&demo.password));
    }
    let passwords: std::collections::HashSet<&str> =
        created.iter().map(|u| u.password.as_str()).collect();
    assert_eq!(passwords.len(), created.len(), "every password differs");
    // A second start creates nothing and prints nothing.
    assert!(auth::seed_demo_users(&store, &hasher)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.count_users().await.unwrap(), 5);
}
