//! Fixtures of the queue tests (`agent_queue`, `agent_softphone`): the
//! demo flow with its three queues, a known customer, agents with skills.

use std::path::Path;
use std::time::Duration;

use hibiki::store::{AgentSkill, Customer};

use super::browser::{Browser, Page};
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
