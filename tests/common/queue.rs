//! Fixtures of the queue tests (`agent_queue`, `agent_softphone`,
//! `agent_callback`): the demo flow with its three queues, a known
//! customer, agents with skills, agent pages and what their fake
//! microphone sounds like.

use std::path::Path;
use std::time::Duration;

use hibiki::store::{AgentSkill, Customer};

use hibiki::media::g711::alaw_to_linear;

use super::api::add_user;
use super::browser::{Browser, Page};
use super::media::pcap_payloads;
use super::{ServerConfig, TestServer};

pub const PCAP: &str = "/usr/share/sip-tester/g711a.pcap";
pub const PROMPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ivr-flows/prompts");
pub const PASSWORD: &str = "correct horse battery staple";

/// The demo flow on 100, queues support/billing/operator (support rings
/// an agent for `ring_seconds`).
pub fn config(flows: &Path, ring_seconds: u64) -> ServerConfig {
    let mut text = format!(
        "[ivr]\nflows_dir = {:?}\nwatch = false\n\n[media]\nprompts_dir = {PROMPTS:?}\n\n\
         [[trunks]]\nname = \"local\"\n[trunks.inbound]\nsources = [\"127.0.0.1/32\"]\n\n\
         [[routes]]\nnumber = \"100\"\naction = \"ivr\"\nflow = \"demo\"\n",
        flows.display().to_string()
    );
    text.push_str(&format!(
        "\n[[queues]]\nname = \"support\"\nskills = [{{ name = \"support\" }}]\nring_seconds = {ring_seconds}\nwrap_up_seconds = 60\nannounce_seconds = 0\n\
         \n[[queues]]\nname = \"billing\"\nskills = [{{ name = \"billing\" }}]\n\
         \n[[queues]]\nname = \"operator\"\n\
         \n[softphone]\nbind_ip = \"127.0.0.1\"\n"
    ));
    ServerConfig {
        routes: text,
        env: super::media::media_ports_env(),
        ..ServerConfig::default()
    }
}

/// Gives `agent` the support skill and a SIP phone on 127.0.0.1:`phone`.
pub async fn support_agent_with_phone(server: &TestServer, agent: &str, phone: u16) {
    let store = server.store().await;
    let now = hibiki::store::now_ms();
    let skill = AgentSkill::new("support", 5).unwrap();
    assert!(store.set_agent_skills(agent, &[skill], now).await.unwrap());
    let uri = format!("sip:{agent}@127.0.0.1:{phone}");
    assert!(store
        .set_agent_device(agent, Some(&uri), now)
        .await
        .unwrap());
}

/// Gives `agent` the support skill; calls ring in their browser.
pub async fn support_agent(server: &TestServer, agent: &str) {
    let store = server.store().await;
    let skill = AgentSkill::new("support", 5).unwrap();
    assert!(store
        .set_agent_skills(agent, &[skill], hibiki::store::now_ms())
        .await
        .unwrap());
}

/// The agent page's state badge, as a JavaScript expression.
pub const PAGE_STATUS: &str = "document.getElementById('state').dataset.status";

/// Opens the agent page, logs `username` in and waits for their state
/// (agents log in not ready).
/// (The page asks for the raw microphone, a headset's: Chromium's echo
/// canceller would otherwise hide its fake microphone's beeps whenever the
/// caller speaks.)
pub async fn page_login(browser: &Browser, server: &TestServer, username: &str) -> Page {
    let mut page = browser
        .open(&format!("http://{}/agent?lang=en&headset=1", server.http))
        .await;
    // (The new tab is about:blank until the navigation commits.)
    page.wait_for(
        "location.pathname === '/agent' && document.readyState === 'complete' \
         && document.getElementById('username') !== null",
        Duration::from_secs(20),
    )
    .await;
    page.fill("username", username).await;
    page.fill("password", PASSWORD).await;
    page.eval("document.getElementById('login-form').requestSubmit()")
        .await;
    page.wait_for(
        &format!("{PAGE_STATUS} === 'not_ready'"),
        Duration::from_secs(10),
    )
    .await;
    page
}

pub async fn hanako(server: &TestServer) {
    server
        .store()
        .await
        .create_customer(
            &Customer {
                id: "c-hanako".into(),
                name: "Hanako Yamada".into(),
                name_prompt: Some("customer-hanako-yamada".into()),
                email: None,
                notes: "prefers mornings".into(),
                phones: vec!["+819012345678".into()],
            },
            hibiki::store::now_ms(),
        )
        .await
        .unwrap();
}

/// Chromium's fake microphone: a 20 ms beep at 400 Hz every 500 ms (a
/// pulse train, full scale with the page's raw microphone).
pub const BEEP_HZ: f64 = 400.0;

/// Power of `frequency` in `frame` (8 kHz), by the Goertzel recurrence,
/// relative to the frame's energy without its DC (1.0: all of it; the fake
/// microphone's beep is a 0-to-full-scale pulse train).
pub fn tone_share(frame: &[f64], frequency: f64) -> f64 {
    let n = frame.len() as f64;
    let mean = frame.iter().sum::<f64>() / n;
    let frame: Vec<f64> = frame.iter().map(|x| x - mean).collect();
    let k = (n * frequency / 8000.0).round();
    let w = 2.0 * std::f64::consts::PI * k / n;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for x in &frame {
        let s = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let energy: f64 = frame.iter().map(|x| x * x).sum();
    if energy <= 0.0 {
        0.0
    } else {
        2.0 * power / (n * energy)
    }
}

/// Where (in samples) `channel` has a full-scale 400 Hz beep (nothing
/// else in a call is that loud and pure): 20 ms windows every 2.5 ms, a
/// run of hits counted once.
pub fn beeps(channel: &[f64]) -> Vec<usize> {
    let mut found: Vec<usize> = Vec::new();
    let mut at = 0;
    while at + 160 <= channel.len() {
        let frame = &channel[at..at + 160];
        let rms = (frame.iter().map(|x| x * x).sum::<f64>() / 160.0).sqrt();
        if rms > 10_000.0
            && tone_share(frame, BEEP_HZ) > 0.6
            && found.last().is_none_or(|last| at - last > 800)
        {
            found.push(at);
        }
        at += 20;
    }
    found
}

/// The caller's pcap, as linear samples.
pub fn pcap_audio() -> Vec<f64> {
    pcap_payloads(PCAP)
        .iter()
        .flat_map(|p| p.iter().map(|b| f64::from(alaw_to_linear(*b))))
        .collect()
}

/// Creates `agent` with the support skill, logs them in on a page, waits
/// for the softphone to connect and makes them available.
pub async fn browser_agent(browser: &Browser, server: &TestServer, agent: &str) -> Page {
    add_user(server, agent, "agent", PASSWORD);
    support_agent(server, agent).await;
    available_on_page(browser, server, agent).await
}

/// Logs an existing `agent` in on a page, waits for the softphone to
/// connect and makes them available.
pub async fn available_on_page(browser: &Browser, server: &TestServer, agent: &str) -> Page {
    let mut page = page_login(browser, server, agent).await;
    page.wait_for(
        "document.getElementById('softphone-state').dataset.state === 'connected'",
        Duration::from_secs(30),
    )
    .await;
    page.click("go-available").await;
    page.wait_for(
        &format!("{PAGE_STATUS} === 'available'"),
        Duration::from_secs(10),
    )
    .await;
    page
}

/// Waits for the page's offer of a call from Hanako, answers it and
/// returns the call's id once the agent is on it.
pub async fn answer_hanako(page: &mut Page) -> String {
    page.wait_for(
        "!document.getElementById('answer').classList.contains('hidden') \
         && document.getElementById('c-name').textContent === 'Hanako Yamada'",
        Duration::from_secs(30),
    )
    .await;
    let ivr = page
        .eval("document.getElementById('ivr').textContent")
        .await;
    assert!(
        ivr.as_str().unwrap_or("").contains("customer_name"),
        "the IVR's variables on screen: {ivr}"
    );
    page.click("answer").await;
    page.wait_for(
        &format!("{PAGE_STATUS} === 'on_call'"),
        Duration::from_secs(10),
    )
    .await;
    let call_id = page.eval("agent.callId").await;
    call_id.as_str().expect("the call on screen").to_owned()
}

pub async fn wrap_up(page: &mut Page, disposition: &str, notes: &str) {
    page.wait_for(
        "!document.getElementById('wrapup-panel').classList.contains('hidden')",
        Duration::from_secs(15),
    )
    .await;
    page.eval(&format!(
        "document.getElementById('disposition').value = '{disposition}'"
    ))
    .await;
    page.fill("notes", notes).await;
    page.eval("document.getElementById('wrapup-form').requestSubmit()")
        .await;
    page.wait_for(
        &format!("{PAGE_STATUS} === 'available'"),
        Duration::from_secs(10),
    )
    .await;
}
