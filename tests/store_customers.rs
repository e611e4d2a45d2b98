//! The store contract for customers and callback requests: every case
//! runs against SQLite (a temp file) and PostgreSQL (a fresh
//! `hibiki_test_<random>` database on 127.0.0.1:5432, dropped afterwards,
//! also when the case fails), like `tests/store_contract.rs`. The IVR
//! path of a call is with the other call cases there.
//!
//! When PostgreSQL does not answer, its half prints
//! `SKIPPED postgres: <reason>` and passes — unless
//! `HIBIKI_TEST_POSTGRES=required` (as `scripts/test.sh` sets in CI), in
//! which case it fails. `HIBIKI_TEST_POSTGRES_URL` points the tests at
//! another server.

#[macro_use]
mod store_harness;

use hibiki::customer::{normalise_phone, seed_demo_customers};
use hibiki::store::{
    CallbackCompletion, CallbackRequest, CallbackStatus, Customer, RecordEvent, RecordWriter,
    Store, StoreError, Voicemail,
};

contract!(
    a_customer_round_trips_with_every_phone,
    a_taken_number_or_id_is_a_conflict_and_writes_nothing,
    demo_customers_are_seeded_once,
    a_callback_request_round_trips_every_field,
    callback_requests_are_listed_newest_first_by_status_and_limit,
    completing_is_for_open_requests_only,
    the_writer_carries_callback_requests_and_a_retry_keeps_the_completion,
    a_refused_callback_request_costs_only_itself,
    an_update_replaces_fields_and_phones_and_a_taken_number_writes_nothing,
    customers_are_searched_by_name_ignoring_case_with_limit_and_offset,
);

// ---------------------------------------------------------------- fixtures

fn customer(id: &str, name: &str, phones: &[&str]) -> Customer {
    Customer {
        id: id.to_owned(),
        name: name.to_owned(),
        name_prompt: Some(format!("customer-{id}")),
        email: Some(format!("{id}@example.com")),
        notes: "prefers mornings".to_owned(),
        phones: phones.iter().map(|p| (*p).to_owned()).collect(),
    }
}

fn request(id: &str, created_at_ms: i64) -> CallbackRequest {
    CallbackRequest::open(
        id,
        format!("call-{id}"),
        "node-a",
        "+81312345678",
        "0120123456",
        "support",
        created_at_ms,
    )
}

fn with_voicemail(mut r: CallbackRequest) -> CallbackRequest {
    r.voicemail = Some(Voicemail {
        path: format!("voicemail/2026/11/30/{}.wav", r.id),
        duration_ms: 12_340,
        bytes: 44 + 12_340 * 16,
        sha256: Some("ab".repeat(32)),
    });
    r
}

/// Writes requests through the record writer, as call actors do.
async fn write(store: &Store, requests: &[CallbackRequest]) {
    let (sink, handle) = RecordWriter::spawn(store.clone());
    for r in requests {
        assert!(sink.send(RecordEvent::CallbackRequested(r.clone())));
    }
    let stats = handle.finish().await;
    assert_eq!(
        (stats.written, stats.failed, stats.dropped),
        (requests.len() as u64, 0, 0)
    );
}

// ------------------------------------------------------------------- cases

async fn a_customer_round_trips_with_every_phone(store: Store) {
    let c = customer("c1", "Hanako Yamada", &["+819012345678", "+81312345678"]);
    store.create_customer(&c, 1_700_000_000_000).await.unwrap();
    let mut expected = c.clone();
    expected.phones.sort();
    for number in &c.phones {
        assert_eq!(
            store.customer_by_phone(number).await.unwrap().as_ref(),
            Some(&expected),
            "{number}"
        );
    }
    assert_eq!(store.customer("c1").await.unwrap(), Some(expected));
    // The lookup is exact: normalise first.
    assert_eq!(store.customer_by_phone("0312345678").await.unwrap(), None);
    let normalised = normalise_phone("03-1234-5678", "JP").unwrap();
    assert_eq!(
        store
            .customer_by_phone(&normalised)
            .await
            .unwrap()
            .map(|c| c.id),
        Some("c1".to_owned())
    );
    // Optional fields stay None; a customer without phones is fine.
    let bare = Customer {
        name_prompt: None,
        email: None,
        notes: String::new(),
        ..customer("c2", "Taro Suzuki", &[])
    };
    store.create_customer(&bare, 1).await.unwrap();
    assert_eq!(store.customer("c2").await.unwrap(), Some(bare));
    assert_eq!(store.customer("nope").await.unwrap(), None);
    assert_eq!(store.count_customers().await.unwrap(), 2);
}

async fn a_taken_number_or_id_is_a_conflict_and_writes_nothing(store: Store) {
    store
        .create_customer(&customer("c1", "First", &["+14155550100"]), 1)
        .await
        .unwrap();
    // Its second number is taken: neither the customer nor its first
    // number is written.
    let clash = customer("c2", "Second", &["+14155550199", "+14155550100"]);
    match store.create_customer(&clash, 2).await {
        Err(StoreError::Conflict { table, key }) => {
            assert_eq!(table, "customer_phones");
            assert!(key.contains("+14155550100"), "{key}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.customer("c2").await.unwrap(), None);
    assert_eq!(store.customer_by_phone("+14155550199").await.unwrap(), None);
    let owner = store
        .customer_by_phone("+14155550100")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.id, "c1");

    match store
        .create_customer(&customer("c1", "Again", &["+14155550123"]), 3)
        .await
    {
        Err(StoreError::Conflict { table, .. }) => assert_eq!(table, "customers"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.customer("c1").await.unwrap().unwrap().name, "First");
    assert_eq!(store.customer_by_phone("+14155550123").await.unwrap(), None);
    assert_eq!(store.count_customers().await.unwrap(), 1);

    // The schema refuses a number that is not E.164-shaped.
    let err = store
        .create_customer(&customer("c3", "Local", &["0312345678"]), 4)
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert_eq!(store.customer("c3").await.unwrap(), None);
}

async fn demo_customers_are_seeded_once(store: Store) {
    assert_eq!(seed_demo_customers(&store, 10).await.unwrap(), 3);
    assert_eq!(seed_demo_customers(&store, 11).await.unwrap(), 0);
    let hanako = store
        .customer_by_phone("+819012345678")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hanako.name, "Hanako Yamada");
    assert_eq!(hanako.phones, ["+81312345678", "+819012345678"]);
    assert_eq!(
        hanako.name_prompt.as_deref(),
        Some("customer-hanako-yamada")
    );
    let john = store
        .customer_by_phone("+14155550100")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (john.name.as_str(), john.name_prompt.as_deref()),
        ("John Smith", Some("customer-john-smith"))
    );
    let taro = store
        .customer_by_phone("+81612345678")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (taro.name.as_str(), taro.name_prompt),
        ("Taro Suzuki", None)
    );
}

async fn a_callback_request_round_trips_every_field(store: Store) {
    let mut full = with_voicemail(request("r1", 1_700_000_000_123));
    full.customer_id = Some("demo-hanako-yamada".to_owned());
    full.notes = "pressed 2 (billing)".to_owned();
    let mut no_hash = with_voicemail(request("r2", 5));
    if let Some(v) = no_hash.voicemail.as_mut() {
        v.sha256 = None;
    }
    let plain = request("r3", 6);
    write(&store, &[full.clone(), no_hash.clone(), plain.clone()]).await;
    assert_eq!(store.callback_request("r1").await.unwrap(), Some(full));
    assert_eq!(store.callback_request("r2").await.unwrap(), Some(no_hash));
    let back = store.callback_request("r3").await.unwrap().unwrap();
    assert_eq!(back, plain);
    assert_eq!(
        (back.status, back.voicemail, back.done_at_ms, back.done_by),
        (CallbackStatus::Open, None, None, None)
    );
    assert_eq!(store.callback_request("nope").await.unwrap(), None);
}

async fn callback_requests_are_listed_newest_first_by_status_and_limit(store: Store) {
    let requests: Vec<CallbackRequest> =
        (0..6).map(|i| request(&format!("r{i}"), 100 + i)).collect();
    write(&store, &requests).await;
    for id in ["r1", "r4"] {
        let done = store
            .complete_callback(id, "agent1", "", 500)
            .await
            .unwrap();
        assert!(matches!(done, CallbackCompletion::Completed(_)), "{done:?}");
    }
    let ids = |v: Vec<CallbackRequest>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.callback_requests(None, 100).await.unwrap()),
        ["r5", "r4", "r3", "r2", "r1", "r0"]
    );
    assert_eq!(
        ids(store
            .callback_requests(Some(CallbackStatus::Open), 100)
            .await
            .unwrap()),
        ["r5", "r3", "r2", "r0"]
    );
    assert_eq!(
        ids(store
            .callback_requests(Some(CallbackStatus::Open), 2)
            .await
            .unwrap()),
        ["r5", "r3"]
    );
    assert_eq!(
        ids(store
            .callback_requests(Some(CallbackStatus::Done), 100)
            .await
            .unwrap()),
        ["r4", "r1"]
    );
    assert!(store
        .callback_requests(Some(CallbackStatus::Cancelled), 100)
        .await
        .unwrap()
        .is_empty());
    assert!(store.callback_requests(None, 0).await.unwrap().is_empty());
}

async fn completing_is_for_open_requests_only(store: Store) {
    write(&store, &[with_voicemail(request("r1", 10))]).await;
    let done = match store
        .complete_callback("r1", "agent1", "called back, resolved", 2_000)
        .await
        .unwrap()
    {
        CallbackCompletion::Completed(r) => r,
        other => panic!("expected Completed, got {other:?}"),
    };
    assert_eq!(done.status, CallbackStatus::Done);
    assert_eq!(done.done_at_ms, Some(2_000));
    assert_eq!(done.done_by.as_deref(), Some("agent1"));
    assert_eq!(done.notes, "called back, resolved");
    assert!(done.voicemail.is_some(), "the voicemail stays");
    assert_eq!(
        store.callback_request("r1").await.unwrap().as_ref(),
        Some(&done)
    );

    // A second completion (another agent) changes nothing.
    match store
        .complete_callback("r1", "agent2", "me too", 3_000)
        .await
        .unwrap()
    {
        CallbackCompletion::NotOpen(r) => assert_eq!(r, done),
        other => panic!("expected NotOpen, got {other:?}"),
    }
    assert_eq!(store.callback_request("r1").await.unwrap(), Some(done));
    assert_eq!(
        store
            .complete_callback("nope", "agent1", "", 1)
            .await
            .unwrap(),
        CallbackCompletion::NotFound
    );
}

async fn the_writer_carries_callback_requests_and_a_retry_keeps_the_completion(store: Store) {
    let r = request("r1", 10);
    write(&store, std::slice::from_ref(&r)).await;
    store
        .complete_callback("r1", "agent1", "ok", 20)
        .await
        .unwrap();
    // The same event again (a retried batch): still one row, still done.
    write(&store, &[r]).await;
    let rows = store.callback_requests(None, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, CallbackStatus::Done);
    assert_eq!(rows[0].done_by.as_deref(), Some("agent1"));

    // A queue's callback is closed by the same event with its new status
    // (the customer reached); sent again, or open again, it changes
    // nothing more.
    let open = request("r2", 30);
    write(&store, std::slice::from_ref(&open)).await;
    let mut done = open.clone();
    done.status = CallbackStatus::Done;
    done.done_at_ms = Some(40);
    done.done_by = Some("agent2".to_owned());
    done.notes = "called back in call x".to_owned();
    write(&store, std::slice::from_ref(&done)).await;
    assert_eq!(
        store.callback_request("r2").await.unwrap(),
        Some(done.clone())
    );
    let mut later = done.clone();
    later.done_by = Some("agent3".to_owned());
    write(&store, &[open, later]).await;
    assert_eq!(store.callback_request("r2").await.unwrap(), Some(done));
}

async fn a_refused_callback_request_costs_only_itself(store: Store) {
    let (sink, handle) = RecordWriter::spawn(store.clone());
    let good = request("good", 1);
    let bad = request("bad", -1);
    let also_good = with_voicemail(request("also", 2));
    for r in [&good, &bad, &also_good] {
        assert!(sink.send(RecordEvent::CallbackRequested(r.clone())));
    }
    let stats = handle.finish().await;
    assert_eq!((stats.written, stats.failed), (2, 1));
    assert_eq!(store.callback_request("good").await.unwrap(), Some(good));
    assert_eq!(
        store.callback_request("also").await.unwrap(),
        Some(also_good)
    );
    assert_eq!(store.callback_request("bad").await.unwrap(), None);
}

async fn an_update_replaces_fields_and_phones_and_a_taken_number_writes_nothing(store: Store) {
    let hanako = customer("c1", "Hanako Yamada", &["+81312345678", "+819012345678"]);
    let john = customer("c2", "John Smith", &["+14155550100"]);
    store.create_customer(&hanako, 1).await.unwrap();
    store.create_customer(&john, 1).await.unwrap();

    let mut changed = hanako.clone();
    changed.name = "Hanako Tanaka".to_owned();
    changed.email = None;
    changed.name_prompt = None;
    changed.notes = "moved".to_owned();
    changed.phones = vec!["+81312345678".to_owned(), "+81667890123".to_owned()];
    assert!(store.update_customer(&changed, 2).await.unwrap());
    assert_eq!(store.customer("c1").await.unwrap(), Some(changed.clone()));
    // The dropped number is free again; the new one finds her.
    assert_eq!(
        store.customer_by_phone("+819012345678").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .customer_by_phone("+81667890123")
            .await
            .unwrap()
            .map(|c| c.id),
        Some("c1".to_owned())
    );

    // John taking one of Hanako's numbers: a conflict, nothing of it written.
    let mut greedy = john.clone();
    greedy.name = "Johnny".to_owned();
    greedy.phones = vec!["+14155550100".to_owned(), "+81312345678".to_owned()];
    match store.update_customer(&greedy, 3).await {
        Err(StoreError::Conflict { table, key }) => {
            assert_eq!(table, "customer_phones");
            assert_eq!(key, "number +81312345678");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.customer("c2").await.unwrap(), Some(john));
    assert_eq!(store.customer("c1").await.unwrap(), Some(changed));

    // No such customer: false, nothing created.
    let ghost = customer("ghost", "Nobody", &["+81399990000"]);
    assert!(!store.update_customer(&ghost, 4).await.unwrap());
    assert_eq!(store.customer("ghost").await.unwrap(), None);
    assert_eq!(store.customer_by_phone("+81399990000").await.unwrap(), None);
}

async fn customers_are_searched_by_name_ignoring_case_with_limit_and_offset(store: Store) {
    for (id, name, phones) in [
        ("c1", "Hanako Yamada", &["+81312345678"][..]),
        (
            "c2",
            "Taro Yamamoto",
            &["+81612345678", "+819011112222"][..],
        ),
        ("c3", "John Smith", &[][..]),
        ("c4", "100% Yams_Co", &[][..]),
    ] {
        store
            .create_customer(&customer(id, name, phones), 1)
            .await
            .unwrap();
    }
    let ids = |v: Vec<Customer>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.search_customers("YAMA", 10, 0).await.unwrap()),
        ["c1", "c2"],
        "by name"
    );
    assert_eq!(
        ids(store.search_customers("yam", 10, 0).await.unwrap()),
        ["c4", "c1", "c2"]
    );
    assert_eq!(
        ids(store.search_customers("yam", 1, 1).await.unwrap()),
        ["c1"]
    );
    assert_eq!(
        ids(store.search_customers("yam", 10, 3).await.unwrap()),
        Vec::<String>::new()
    );
    // `%`, `_` and `\` are literal.
    assert_eq!(
        ids(store.search_customers("0%", 10, 0).await.unwrap()),
        ["c4"]
    );
    assert_eq!(
        ids(store.search_customers("s_c", 10, 0).await.unwrap()),
        ["c4"]
    );
    assert!(store
        .search_customers("a_o", 10, 0)
        .await
        .unwrap()
        .is_empty());
    assert!(store.search_customers("%", 10, 0).await.unwrap().len() == 1);
    assert!(store
        .search_customers("\\", 10, 0)
        .await
        .unwrap()
        .is_empty());
    // Every number comes along.
    let taro = store.search_customers("taro", 10, 0).await.unwrap();
    assert_eq!(taro.len(), 1);
    assert_eq!(taro[0].phones, ["+81612345678", "+819011112222"]);
    assert_eq!(taro[0].email.as_deref(), Some("c2@example.com"));
}
