//! Agents who take calls in the browser: the agent page's softphone
//! (WebRTC, negotiated over the agent websocket at login) in real headless
//! Chromium with its fake microphone, bridged by the server to a SIPp
//! caller.
//!
//! - A known customer (SIPp, From +819012345678) calls the demo flow and
//!   presses 1. The page shows the offer with the customer and the IVR's
//!   data; the agent clicks answer; audio flows both ways: the caller's
//!   pcap is on the recording's left channel, Chromium's fake-microphone
//!   beeps (400 Hz, 20 ms, every 500 ms) on the right, and the page's
//!   softphone received the caller's audio. The agent reloads the page
//!   mid-call: the call goes on, the page shows it again and its new
//!   softphone connection carries the audio. The agent hangs up and saves a
//!   disposition; the customer's history lists the call and its
//!   recording.
//! - Hold and blind transfers: the first agent holds (the caller hears the
//!   queue's music, recorded on the right) and resumes, then transfers to
//!   a second agent on a second page, who sees the same pop, answers, and
//!   transfers to the billing queue, where the first agent takes the call
//!   again and transfers it to an external number answered by a SIPp UAS
//!   on a trunk, which talks and hangs up. One call record, one recording
//!   through all of it; both agents wrap up the same call.
//! - Consult transfer between two pages: the first agent consults the
//!   second by name, who refuses (the caller comes back to the first
//!   agent); then the billing queue, whose one agent is the second: they
//!   answer (the caller hears music meanwhile), the first completes, and
//!   the second talks with the caller; then consults an external number
//!   (a SIPp UAS on a trunk) and completes: the caller talks with it until
//!   it hangs up.
//! - The same page in Firefox ESR (over WebDriver BiDi): login, softphone,
//!   answer, audio both ways (Firefox's steady fake tone continuous on the
//!   recording's right channel), hang up, wrap up.

mod common;

use std::path::Path;
use std::time::Duration;

use common::api::{add_user, Api};
use common::browser::{Browser, Page};
use common::media::{
    best_alignment, exact_alignment, prompt_samples, read_wav, recording_file,
    recordings_once_closed, split_stereo,
};
use common::queue::{
    answer_hanako, available_on_page, beeps, browser_agent, config, hanako, pcap_audio, tone_share,
    wrap_up, PAGE_STATUS, PASSWORD, PCAP,
};
use common::{free_udp_port, Calls, TestServer};
use hibiki::store::{AgentSkill, Outcome};

/// What the page's softphone has received: (packets, total audio energy).
async fn received_audio(page: &mut Page) -> (u64, f64) {
    let stats = page
        .eval(
            "(async () => { let p = 0, e = 0; \
              (await agent.pc.getStats()).forEach((r) => { \
                if (r.type === 'inbound-rtp' && r.kind === 'audio') { \
                  p += r.packetsReceived || 0; e += r.totalAudioEnergy || 0; } }); \
              return [p, e]; })()",
        )
        .await;
    (
        stats[0].as_u64().unwrap_or(0),
        stats[1].as_f64().unwrap_or(0.0),
    )
}

/// Each agent's disposition of `call_id`, as `(agent, code)` sorted.
async fn assert_dispositions(store: &hibiki::store::Store, call_id: &str, wanted: &[(&str, &str)]) {
    let saved = store.dispositions_for_call(call_id).await.unwrap();
    let mut by: Vec<(&str, &str)> = saved
        .iter()
        .map(|d| (d.username.as_str(), d.code.as_str()))
        .collect();
    by.sort_unstable();
    assert_eq!(by, wanted, "{saved:?}");
}

fn call_hanako(server: &TestServer) -> common::SippRun {
    let caller_media = free_udp_port("127.0.0.1").to_string();
    server.sipp_spawn(
        "uac_queue",
        &[
            "-mp",
            &caller_media,
            "-key",
            "caller",
            "+819012345678",
            "-timeout",
            "90s",
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_answers_in_the_browser_and_both_sides_are_heard_and_recorded() {
    assert!(Path::new(PCAP).exists(), "{PCAP} is missing");
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let flows = common::ivr::flows_dir(&[("demo.toml", common::ivr::demo_always_open())]);
    let server = TestServer::start_with(config(flows.path(), 15)).await;
    hanako(&server).await;
    let api = Api::new(&server);
    add_user(&server, "boss", "admin", PASSWORD);
    let admin = api.token("boss", PASSWORD).await;
    let mut page = browser_agent(&browser, &server, "ann").await;
    assert_eq!(
        page.eval("agent.device").await,
        "browser",
        "no SIP phone: calls ring in the page"
    );

    let caller = call_hanako(&server);
    let call_id = answer_hanako(&mut page).await;

    // The agent reloads the page mid-call: the call goes on, the page
    // shows it again and its new softphone connection carries the audio.
    tokio::time::sleep(Duration::from_secs(4)).await;
    page.reload().await;
    page.wait_for(
        &format!(
            "typeof agent !== 'undefined' && {PAGE_STATUS} === 'on_call' \
             && document.getElementById('c-name').textContent === 'Hanako Yamada' \
             && document.getElementById('softphone-state').dataset.state === 'connected'"
        ),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(page.eval("agent.callId").await, call_id.as_str());
    // The caller's pcap starts 6 s after their key and lasts about 8 s.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (packets, energy) = received_audio(&mut page).await;
    assert!(
        packets > 200 && energy > 0.0,
        "the page's softphone received the caller: {packets} packets, energy {energy}"
    );
    page.click("hangup").await;
    wrap_up(&mut page, "resolved", "answered in the browser").await;
    caller.finish().await.assert_ok();

    let rows = server
        .wait_for_calls(Calls::Id(&call_id), Duration::from_secs(15))
        .await;
    let call = &rows[0];
    assert_eq!(call.outcome, Some(Outcome::Answered), "{call:#?}");
    assert_eq!(call.hangup_cause.as_deref(), Some("agent_hangup"));
    assert_eq!(call.agent.as_deref(), Some("ann"), "{call:#?}");
    assert_eq!(call.customer_id.as_deref(), Some("c-hanako"));

    // Caller on the left, the browser's microphone on the right.
    let recordings = recordings_once_closed(&server, &call_id).await;
    assert_eq!(recordings.len(), 1, "{recordings:#?}");
    let (spec, samples) = read_wav(&recording_file(&server, &recordings[0]));
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    let (left, right) = split_stereo(&samples);
    let (ncc_left, _) = best_alignment(&left, &pcap_audio(), left.len());
    assert!(
        ncc_left >= 0.9,
        "the caller's audio on the left: NCC {ncc_left}"
    );
    let found = beeps(&right);
    eprintln!(
        "beeps on the right: {}, on the left: {}, ncc left {ncc_left}",
        found.len(),
        beeps(&left).len()
    );
    assert!(
        found.len() >= 10,
        "Chromium's fake-microphone beeps on the right: {} found",
        found.len()
    );
    // They come every 500 ms: most gaps between consecutive beeps are
    // close to a multiple of 4,000 samples.
    let regular = found
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|gap| *gap >= 3_200 && (gap % 4_000 <= 480 || gap % 4_000 >= 3_520))
        .count();
    assert!(
        regular * 2 >= found.len(),
        "beeps at 500 ms intervals: {regular} regular gaps among {found:?}"
    );
    assert!(
        beeps(&left).len() * 5 < found.len(),
        "the beeps are the agent's, not the caller's"
    );
    let last = found.last().copied().unwrap_or(0);
    assert!(
        right.len() - last < 12_000,
        "the beeps go on after the reload, to the end: the last at {last} of {}",
        right.len()
    );

    // The customer's history lists the call with its recording.
    let history = api
        .get("/customers/c-hanako/interactions", Some(&admin))
        .await;
    let text = history.body.to_string();
    assert!(text.contains(&call_id), "{text}");
    assert!(text.contains("answered in the browser"), "{text}");
    assert!(text.contains(&recordings[0].id), "{text}");
}

/// Chooses a transfer target on the page and submits it.
async fn transfer(page: &mut Page, kind: &str, to: &str) {
    page.eval(&format!(
        "document.getElementById('transfer-kind').value = '{kind}'; \
         document.getElementById('transfer-to').value = '{to}'; \
         document.getElementById('transfer-form').requestSubmit()"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_hold_and_transfer_to_an_agent_a_queue_and_an_external_number() {
    assert!(Path::new(PCAP).exists(), "{PCAP} is missing");
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let far_port = free_udp_port("127.0.0.1");
    let far_media = free_udp_port("127.0.0.1").to_string();
    let flows = common::ivr::flows_dir(&[("demo.toml", common::ivr::demo_always_open())]);
    let mut cfg = config(flows.path(), 15);
    cfg.routes.push_str(&format!(
        "\n[[trunks]]\nname = \"far\"\n[trunks.outbound]\naddress = \"127.0.0.1:{far_port}\"\n\
         \n[agents]\ntransfer_trunk = \"far\"\n"
    ));
    let server = TestServer::start_with(cfg).await;
    hanako(&server).await;
    let store = server.store().await;
    let far = server.sipp_uas("uas_talk_bye", far_port, &["-mp", &far_media]);

    // Ann takes support and billing calls; bob has no skill: only a
    // transfer to him reaches him.
    let mut ann = browser_agent(&browser, &server, "ann").await;
    let skills = [
        AgentSkill::new("support", 5).unwrap(),
        AgentSkill::new("billing", 5).unwrap(),
    ];
    assert!(store
        .set_agent_skills("ann", &skills, hibiki::store::now_ms())
        .await
        .unwrap());
    add_user(&server, "bob", "agent", PASSWORD);
    let mut bob = available_on_page(&browser, &server, "bob").await;
    // Skills are read at login: ann logs in again (a reload) to get billing.
    ann.reload().await;
    ann.wait_for(
        &format!(
            "typeof agent !== 'undefined' && {PAGE_STATUS} === 'available' \
             && document.getElementById('softphone-state').dataset.state === 'connected'"
        ),
        Duration::from_secs(30),
    )
    .await;

    let caller = call_hanako(&server);
    let call_id = answer_hanako(&mut ann).await;

    // Hold: the caller hears the queue's music; then back.
    ann.click("hold").await;
    ann.wait_for(
        "!document.getElementById('resume').classList.contains('hidden')",
        Duration::from_secs(5),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    ann.click("resume").await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // A transfer to an agent who is not logged in is refused; the call
    // stays with ann.
    transfer(&mut ann, "agent", "nobody").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ann.eval(PAGE_STATUS).await, "on_call");

    // To bob: ann wraps up at once, bob is offered the same pop.
    transfer(&mut ann, "agent", "bob").await;
    wrap_up(&mut ann, "escalated", "sent to bob").await;
    let bobs_call = answer_hanako(&mut bob).await;
    assert_eq!(bobs_call, call_id, "the same call reaches bob");

    // Bob sends the caller to the billing queue: ann, the one billing
    // agent, gets the call again.
    transfer(&mut bob, "queue", "billing").await;
    bob.wait_for(
        &format!("{PAGE_STATUS} === 'wrap_up'"),
        Duration::from_secs(10),
    )
    .await;
    let anns_again = answer_hanako(&mut ann).await;
    assert_eq!(anns_again, call_id);
    assert_eq!(
        ann.eval("document.getElementById('call-queue').textContent")
            .await,
        "billing"
    );

    // Ann sends the caller on to an external number on the trunk, which
    // answers, talks and hangs up.
    transfer(&mut ann, "number", "5000").await;
    far.finish().await.assert_ok();
    caller.finish().await.assert_ok();

    // Each agent's wrap-up is kept for the call.
    wrap_up(&mut ann, "follow_up", "sent to the billing line").await;
    wrap_up(&mut bob, "no_action", "").await;
    assert_dispositions(
        &store,
        &call_id,
        &[("ann", "follow_up"), ("bob", "no_action")],
    )
    .await;

    let rows = server
        .wait_for_calls(Calls::Id(&call_id), Duration::from_secs(15))
        .await;
    let call = &rows[0];
    assert_eq!(call.outcome, Some(Outcome::Answered), "{call:#?}");
    assert_eq!(
        call.hangup_cause.as_deref(),
        Some("callee_hung_up"),
        "{call:#?}"
    );
    assert_eq!(call.agent.as_deref(), Some("ann"), "{call:#?}");
    assert_eq!(call.queue.as_deref(), Some("billing"), "{call:#?}");

    // One recording through it all: the caller on the left; on the right
    // the agents' beeps, the hold music and the far end's speech.
    let recordings = recordings_once_closed(&server, &call_id).await;
    assert_eq!(recordings.len(), 1, "{recordings:#?}");
    let (_, samples) = read_wav(&recording_file(&server, &recordings[0]));
    let (left, right) = split_stereo(&samples);
    let speech = pcap_audio();
    let (ncc_left, _) = best_alignment(&left, &speech, left.len());
    assert!(ncc_left >= 0.9, "the caller on the left: NCC {ncc_left}");
    let (ncc_far, _) = best_alignment(&right, &speech, right.len());
    assert!(ncc_far >= 0.9, "the far end on the right: NCC {ncc_far}");
    let found = beeps(&right);
    assert!(found.len() >= 3, "ann's beeps after the hold: {found:?}");
    // A quarter second from 1.5 s into the music: the caller waited far
    // less than that in the queues (an agent was free), so only the 4 s
    // hold played it.
    let music = prompt_samples("hold-music");
    let (ncc_music, at) = exact_alignment(&right, &music[12_000..14_000]);
    eprintln!(
        "NCC: left {ncc_left}, far {ncc_far}, music {ncc_music} at {at}; {} beeps",
        found.len()
    );
    assert!(
        ncc_music >= 0.9,
        "the hold music on the right: NCC {ncc_music}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consult_transfer_hands_the_caller_to_a_second_agent_on_a_second_page() {
    assert!(Path::new(PCAP).exists(), "{PCAP} is missing");
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let far_port = free_udp_port("127.0.0.1");
    let far_media = free_udp_port("127.0.0.1").to_string();
    let flows = common::ivr::flows_dir(&[("demo.toml", common::ivr::demo_always_open())]);
    let mut cfg = config(flows.path(), 15);
    cfg.routes.push_str(&format!(
        "\n[[trunks]]\nname = \"far\"\n[trunks.outbound]\naddress = \"127.0.0.1:{far_port}\"\n\
         \n[agents]\ntransfer_trunk = \"far\"\n"
    ));
    let server = TestServer::start_with(cfg).await;
    hanako(&server).await;
    let store = server.store().await;
    let mut ann = browser_agent(&browser, &server, "ann").await;
    // Bob is the billing queue's one agent.
    add_user(&server, "bob", "agent", PASSWORD);
    let billing = [AgentSkill::new("billing", 5).unwrap()];
    assert!(store
        .set_agent_skills("bob", &billing, hibiki::store::now_ms())
        .await
        .unwrap());
    let mut bob = available_on_page(&browser, &server, "bob").await;

    let caller = call_hanako(&server);
    let call_id = answer_hanako(&mut ann).await;
    let consult_state = "document.getElementById('consult-state').dataset.state";
    let consult_agent = "document.getElementById('consult-agent').textContent";

    // First try: ann consults bob by name; bob refuses. The caller comes
    // back to ann.
    ann.eval("document.getElementById('transfer-kind').value = 'agent'")
        .await;
    ann.fill("transfer-to", "bob").await;
    ann.click("consult").await;
    ann.wait_for(
        &format!("{consult_state} === 'ringing'"),
        Duration::from_secs(10),
    )
    .await;
    bob.wait_for(
        "document.getElementById('call-title').textContent.includes('ann') \
         && !document.getElementById('answer').classList.contains('hidden')",
        Duration::from_secs(10),
    )
    .await;
    bob.click("reject").await;
    ann.wait_for(
        &format!("{consult_state} === 'failed'"),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(ann.eval(PAGE_STATUS).await, "on_call");
    bob.click("go-available").await;
    bob.wait_for(
        &format!("{PAGE_STATUS} === 'available'"),
        Duration::from_secs(10),
    )
    .await;

    // Second try: ann consults the billing queue, whose agent (bob)
    // answers (the pop shows the customer); the agents talk while the
    // caller hears music, ann completes the transfer.
    ann.eval("document.getElementById('transfer-kind').value = 'queue'")
        .await;
    ann.fill("transfer-to", "billing").await;
    ann.click("consult").await;
    let consult_call = answer_hanako(&mut bob).await;
    assert_eq!(consult_call, format!("{call_id}#consult"));
    ann.wait_for(
        &format!("{consult_state} === 'connected' && {consult_agent} === 'bob'"),
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ann.click("consult-complete").await;
    ann.wait_for(
        &format!("{PAGE_STATUS} === 'wrap_up'"),
        Duration::from_secs(10),
    )
    .await;
    bob.wait_for(
        &format!("agent.callId === '{call_id}' && {PAGE_STATUS} === 'on_call'"),
        Duration::from_secs(10),
    )
    .await;

    // Bob talks with the caller (whose pcap plays from about 12 s after
    // the call began, for about 8 s: done well before 14 s from here,
    // whatever the load), then consults an external number: a SIPp UAS
    // on the trunk answers; bob completes: the caller talks with it, bob
    // wraps up, and the far end hangs up.
    tokio::time::sleep(Duration::from_secs(14)).await;
    let far = server.sipp_uas("uas_talk_bye", far_port, &["-mp", &far_media]);
    bob.eval("document.getElementById('transfer-kind').value = 'number'")
        .await;
    bob.fill("transfer-to", "5000").await;
    bob.click("consult").await;
    bob.wait_for(
        &format!("{consult_state} === 'connected' && {consult_agent} === '5000'"),
        Duration::from_secs(15),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    bob.click("consult-complete").await;
    wrap_up(&mut bob, "resolved", "took it over from ann").await;
    wrap_up(&mut ann, "escalated", "consulted bob").await;
    far.finish().await.assert_ok();
    caller.finish().await.assert_ok();
    assert_dispositions(
        &store,
        &call_id,
        &[("ann", "escalated"), ("bob", "resolved")],
    )
    .await;
    let rows = server
        .wait_for_calls(Calls::Id(&call_id), Duration::from_secs(15))
        .await;
    let call = &rows[0];
    assert_eq!(call.agent.as_deref(), Some("bob"), "{call:#?}");
    assert_eq!(
        call.hangup_cause.as_deref(),
        Some("callee_hung_up"),
        "{call:#?}"
    );

    // The caller heard the music during the consult, and bob after it: his
    // beeps on the right to the end.
    let recordings = recordings_once_closed(&server, &call_id).await;
    let (_, samples) = read_wav(&recording_file(&server, &recordings[0]));
    let (left, right) = split_stereo(&samples);
    let (ncc_left, _) = best_alignment(&left, &pcap_audio(), left.len());
    assert!(ncc_left >= 0.9, "the caller on the left: NCC {ncc_left}");
    let music = prompt_samples("hold-music");
    let (ncc_music, _) = exact_alignment(&right, &music[4_000..6_000]);
    assert!(
        ncc_music >= 0.9,
        "the music during the consult: NCC {ncc_music}"
    );
    let found = beeps(&right);
    assert!(
        found.len() >= 8,
        "bob's beeps after the handover: {found:?}"
    );
    // The consulted number's speech reached the caller after bob
    // completed (a half second from 6 s into its 7 s).
    let speech = pcap_audio();
    let (ncc_far, _) = exact_alignment(&right, &speech[48_000..52_000]);
    assert!(
        ncc_far >= 0.9,
        "the consulted number on the right after the handover: NCC {ncc_far}"
    );
}

/// The share of 20 ms frames of `channel` that are a pure tone at
/// `frequency` (nearly all of their energy at it).
fn pure_tone_frames(channel: &[f64], frequency: f64) -> f64 {
    let frames: Vec<&[f64]> = channel.chunks_exact(160).collect();
    let pure = frames
        .iter()
        .filter(|f| f.iter().map(|x| x.abs()).fold(0.0, f64::max) > 1_000.0)
        .filter(|f| tone_share(f, frequency) > 0.8)
        .count();
    pure as f64 / frames.len().max(1) as f64
}

/// The agent page in Firefox ESR (WebDriver BiDi, fake media devices):
/// log in, the softphone connects, the offer shows the customer, answer,
/// audio both ways, hang up, wrap up. Firefox's fake microphone is a
/// steady 1 kHz tone: on the recording's right channel it must be
/// continuous (the agent's frames are placed by their RTP timestamps; by
/// arrival, network jitter broke the tone in most frames).
#[tokio::test(flavor = "multi_thread")]
async fn the_agent_page_works_in_firefox_too() {
    assert!(Path::new(PCAP).exists(), "{PCAP} is missing");
    let Some(browser) = Browser::launch_firefox().await else {
        return;
    };
    let flows = common::ivr::flows_dir(&[("demo.toml", common::ivr::demo_always_open())]);
    let server = TestServer::start_with(config(flows.path(), 15)).await;
    hanako(&server).await;
    let store = server.store().await;
    let mut page = browser_agent(&browser, &server, "ann").await;

    let caller = call_hanako(&server);
    let call_id = answer_hanako(&mut page).await;
    // The caller's pcap plays from about 12 s after the call began.
    tokio::time::sleep(Duration::from_secs(14)).await;
    let packets = page
        .eval(
            "(async () => { let p = 0; \
              (await agent.pc.getStats()).forEach((r) => { \
                if (r.type === 'inbound-rtp' && r.kind === 'audio') p += r.packetsReceived || 0; }); \
              return p; })()",
        )
        .await;
    assert!(
        packets.as_u64().unwrap_or(0) > 200,
        "Firefox's softphone received the caller: {packets} packets"
    );
    page.click("hangup").await;
    wrap_up(&mut page, "resolved", "answered in Firefox").await;
    caller.finish().await.assert_ok();
    assert_dispositions(&store, &call_id, &[("ann", "resolved")]).await;

    let rows = server
        .wait_for_calls(Calls::Id(&call_id), Duration::from_secs(15))
        .await;
    assert_eq!(rows[0].agent.as_deref(), Some("ann"), "{:#?}", rows[0]);
    let recordings = recordings_once_closed(&server, &call_id).await;
    let (_, samples) = read_wav(&recording_file(&server, &recordings[0]));
    let (left, right) = split_stereo(&samples);
    let (ncc_left, _) = best_alignment(&left, &pcap_audio(), left.len());
    assert!(ncc_left >= 0.9, "the caller on the left: NCC {ncc_left}");
    // The last 4 s before the hang-up: the agent's tone, unbroken.
    let end = right.len().saturating_sub(4_000);
    let talk = &right[end.saturating_sub(32_000)..end];
    let pure = pure_tone_frames(talk, 1000.0);
    assert!(
        pure >= 0.8,
        "Firefox's 1 kHz tone on the right, continuous: {pure:.2} of the frames"
    );
    assert!(
        pure_tone_frames(&left, 1000.0) < 0.01,
        "the tone is the agent's, not the caller's"
    );
}
