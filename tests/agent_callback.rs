//! A queue's callback offer, end to end, with real peers: a SIPp caller,
//! the agent page in headless Chromium, a SIPp UAS as the customer's
//! phone behind a trunk.
//!
//! A known customer (From +819012345678) calls the demo flow and chooses
//! support; the one support agent is logged in but not ready, so the
//! caller waits. After `callback_offer_seconds` the queue offers a
//! callback; the caller presses 1, hears the confirmation and Hibiki hangs
//! up: the call record says `callback_requested`, the IVR path says so,
//! and the callback request is listed open with the caller's number. The
//! agent becomes available: their page is offered the callback (the
//! number, the customer's pop); they answer, and only then does Hibiki
//! dial the customer through the trunk (to their number, from the number
//! they called). The customer is busy: that attempt's call record says
//! `customer_not_reached`, the agent wraps up, and the callback queues
//! again after `callback_retry_seconds`. The second attempt is answered:
//! the customer talks and hangs up. It is a call of its own (direction
//! outbound, the agent, the customer), recorded (the customer on the
//! left, the agent's microphone on the right); the request is done, by
//! the agent; the customer's history lists the callback with the agent's
//! wrap-up and the recording.

mod common;

use std::path::Path;
use std::time::Duration;

use common::api::{add_user, Api};
use common::browser::Browser;
use common::media::{
    best_alignment, exact_alignment, prompt_samples, read_wav, recording_file,
    recordings_once_closed, split_stereo,
};
use common::queue::{
    beeps, config, hanako, page_login, pcap_audio, support_agent, wrap_up, PAGE_STATUS, PASSWORD,
    PCAP,
};
use common::{free_udp_port, Calls, TestServer};
use hibiki::store::{Direction, Outcome};

const CUSTOMER: &str = "+819012345678";

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_takes_the_callback_offer_and_an_agent_calls_them_back() {
    assert!(Path::new(PCAP).exists(), "{PCAP} is missing");
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let far_port = free_udp_port("127.0.0.1");
    let far_media = free_udp_port("127.0.0.1").to_string();
    let flows = common::ivr::flows_dir(&[("demo.toml", common::ivr::demo_always_open())]);
    let mut cfg = config(flows.path(), 15);
    cfg.routes = cfg.routes.replacen(
        "announce_seconds = 0\n",
        "announce_seconds = 0\ncallback_offer_seconds = 2\ncallback_retry_seconds = 1\n",
        1,
    );
    assert!(cfg.routes.contains("callback_offer_seconds = 2"));
    cfg.routes.push_str(&format!(
        "\n[[trunks]]\nname = \"far\"\n[trunks.outbound]\naddress = \"127.0.0.1:{far_port}\"\n\
         \n[agents]\ntransfer_trunk = \"far\"\n"
    ));
    let server = TestServer::start_with(cfg).await;
    hanako(&server).await;
    let api = Api::new(&server);
    add_user(&server, "boss", "admin", PASSWORD);
    let admin = api.token("boss", PASSWORD).await;

    // Ann is logged in, not ready: the caller waits in the queue.
    add_user(&server, "ann", "agent", PASSWORD);
    support_agent(&server, "ann").await;
    let mut ann = page_login(&browser, &server, "ann").await;
    ann.wait_for(
        "document.getElementById('softphone-state').dataset.state === 'connected'",
        Duration::from_secs(30),
    )
    .await;

    let caller_media = free_udp_port("127.0.0.1").to_string();
    let caller = server.sipp_spawn(
        "uac_callback",
        &[
            "-mp",
            &caller_media,
            "-key",
            "caller",
            CUSTOMER,
            "-timeout",
            "60s",
        ],
    );
    // The caller pressed 1 after the offer and got Hibiki's BYE.
    caller.finish().await.assert_ok();
    let rows = server
        .wait_for_calls(Calls::Count(1), Duration::from_secs(15))
        .await;
    let first = &rows[0];
    assert_eq!(
        first.hangup_cause.as_deref(),
        Some("callback_requested"),
        "{first:#?}"
    );
    let path = first.ivr_path.as_ref().map(ToString::to_string);
    assert!(
        path.as_deref()
            .is_some_and(|p| p.contains("callback requested (call ")),
        "the IVR path: {path:?}"
    );

    // The request is open, with the caller's number and customer.
    let open = api.get("/callbacks?status=open", Some(&admin)).await;
    assert_eq!(open.status, 200, "{}", open.body);
    let request = open
        .body
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["call_id"] == first.id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("the callback request of {}: {}", first.id, open.body));
    assert_eq!(request["caller_number"], CUSTOMER, "{request}");
    assert_eq!(request["customer_id"], "c-hanako", "{request}");
    let callback = request["id"].as_str().expect("an id").to_owned();

    // The caller heard the confirmation: the right channel of the first
    // call's recording.
    let recordings = recordings_once_closed(&server, &first.id).await;
    let (_, samples) = read_wav(&recording_file(&server, &recordings[0]));
    let (_, right) = split_stereo(&samples);
    let confirmed = prompt_samples("queue-callback-confirmed");
    let (ncc_confirmed, _) = exact_alignment(&right, &confirmed[8_000..10_000]);
    assert!(
        ncc_confirmed >= 0.9,
        "the confirmation played to the caller: NCC {ncc_confirmed}"
    );

    // Ann becomes available: her page is offered the callback, with the
    // number and the customer's pop. Nothing is dialled before she answers.
    let busy = server.sipp_uas("uas_callback_busy", far_port, &[]);
    ann.click("go-available").await;
    let offered = format!(
        "document.getElementById('call-title').dataset.kind === 'callback' \
         && document.getElementById('call-title').textContent.includes('{CUSTOMER}') \
         && document.getElementById('c-name').textContent === 'Hanako Yamada' \
         && !document.getElementById('answer').classList.contains('hidden')"
    );
    ann.wait_for(&offered, Duration::from_secs(30)).await;
    assert_eq!(ann.eval("agent.callId").await, callback.as_str());
    ann.click("answer").await;
    // The customer is busy: the attempt ends (ann's page says so), ann
    // wraps up.
    busy.finish().await.assert_ok();
    ann.wait_for(
        "document.getElementById('dial-state').dataset.state === 'failed'",
        Duration::from_secs(10),
    )
    .await;
    let far = server.sipp_uas("uas_talk_bye", far_port, &["-mp", &far_media]);
    // (Submitted here rather than with `wrap_up`, whose wait for
    // `available` could miss it: the callback, queued again meanwhile, is
    // offered at once.)
    ann.wait_for(
        "!document.getElementById('wrapup-panel').classList.contains('hidden')",
        Duration::from_secs(15),
    )
    .await;
    ann.eval("document.getElementById('disposition').value = 'no_action'")
        .await;
    ann.eval("document.getElementById('wrapup-form').requestSubmit()")
        .await;
    let rows = server
        .wait_for_calls(Calls::Id(&callback), Duration::from_secs(15))
        .await;
    let attempt = &rows[0];
    assert_eq!(attempt.direction, Direction::Outbound, "{attempt:#?}");
    assert_eq!(attempt.outcome, Some(Outcome::Busy), "{attempt:#?}");
    assert_eq!(
        attempt.hangup_cause.as_deref(),
        Some("customer_not_reached"),
        "{attempt:#?}"
    );
    let still = api
        .get(&format!("/callbacks/{callback}"), Some(&admin))
        .await;
    assert_eq!(still.body["status"], "open", "{}", still.body);

    // The callback queues again: a new call, offered to ann again.
    ann.wait_for(
        &format!("{offered} && agent.callId !== '{callback}'"),
        Duration::from_secs(30),
    )
    .await;
    let second = ann
        .eval("agent.callId")
        .await
        .as_str()
        .expect("the second attempt's call id")
        .to_owned();
    ann.click("answer").await;
    ann.wait_for(
        &format!("{PAGE_STATUS} === 'on_call'"),
        Duration::from_secs(10),
    )
    .await;
    // The customer's phone answers, talks and hangs up.
    ann.wait_for(
        &format!(
            "document.getElementById('dial-state').dataset.state === 'answered' \
             && document.getElementById('dial-state').textContent.includes('{CUSTOMER}')"
        ),
        Duration::from_secs(15),
    )
    .await;
    far.finish().await.assert_ok();
    wrap_up(&mut ann, "resolved", "called back as promised").await;

    let rows = server
        .wait_for_calls(Calls::Id(&second), Duration::from_secs(15))
        .await;
    let call = &rows[0];
    assert_eq!(call.direction, Direction::Outbound, "{call:#?}");
    assert_eq!(call.to_number, CUSTOMER, "{call:#?}");
    assert_eq!(call.outcome, Some(Outcome::Answered), "{call:#?}");
    assert_eq!(call.agent.as_deref(), Some("ann"), "{call:#?}");
    assert_eq!(call.customer_id.as_deref(), Some("c-hanako"), "{call:#?}");
    assert_eq!(call.queue.as_deref(), Some("support"), "{call:#?}");
    assert!(call.answered_at_ms.is_some(), "{call:#?}");

    // The customer on the left, ann's microphone on the right.
    let recordings = recordings_once_closed(&server, &second).await;
    assert_eq!(recordings.len(), 1, "{recordings:#?}");
    let (spec, samples) = read_wav(&recording_file(&server, &recordings[0]));
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    let (left, right) = split_stereo(&samples);
    let (ncc_left, _) = best_alignment(&left, &pcap_audio(), left.len());
    assert!(ncc_left >= 0.9, "the customer on the left: NCC {ncc_left}");
    let found = beeps(&right);
    assert!(
        found.len() >= 5,
        "ann's fake-microphone beeps on the right: {found:?}"
    );

    // The request is done, by ann.
    let done = api
        .get(&format!("/callbacks/{callback}"), Some(&admin))
        .await;
    assert_eq!(done.body["status"], "done", "{}", done.body);
    assert_eq!(done.body["done_by"], "ann", "{}", done.body);
    assert!(
        done.body["notes"]
            .as_str()
            .is_some_and(|n| n.contains(&second)),
        "{}",
        done.body
    );

    // The customer's history lists the callback, its wrap-up and recording.
    let history = api
        .get("/customers/c-hanako/interactions", Some(&admin))
        .await;
    let text = history.body.to_string();
    assert!(text.contains(&second), "{text}");
    assert!(text.contains("called back as promised"), "{text}");
    assert!(text.contains(&recordings[0].id), "{text}");
}
