//! `/analytics` totals against a direct SQL sum over `provider_resemble_usage`, its scopes and
//! refusals, and the usage console driven in a real headless Chromium over WebDriver.

use std::process::Stdio;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::helpers::*;

impl TestApp {
    /// Some billed usage: synthesized speech and a finished speech-to-text job.
    async fn some_usage(&self, user: &User) {
        for text in ["First line of speech.", "A second, longer line of speech."] {
            assert_eq!(
                self.synthesize(user, tts_body(text, "mp3")).await.status(),
                200
            );
        }
        let audio = self
            .stored_audio_url(
                user,
                "Transcribe me please.",
                json!({"output_format": "wav"}),
            )
            .await;
        let job: Value = self
            .client
            .post(format!("{}/resemble/stt", self.base))
            .bearer_auth(&user.key)
            .json(&json!({"audio_url": audio}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = job["job_id"].as_str().unwrap().to_owned();
        let done = eventually(|| async {
            let (_, j) = self
                .call_as(
                    &user.key,
                    "GET",
                    &format!("/resemble/stt/{id}?wait=2"),
                    None,
                )
                .await;
            (j["status"] == "completed").then_some(j)
        })
        .await;
        assert!(done.is_some(), "the stt job completes");
    }
}

#[tokio::test]
async fn analytics_totals_equal_a_direct_sql_sum() {
    let app = spawn_app().await;
    let alice = app.user("5.00").await;
    let bob = app.user("5.00").await;
    app.some_usage(&alice).await;
    app.some_usage(&bob).await;
    let today = chrono::Utc::now().date_naive();
    let range = format!("from={today}&to={today}");

    let sql = |account: Option<&User>| {
        let filter = account
            .map(|u| format!(" AND account_id = '{}'", u.account.0))
            .unwrap_or_default();
        format!(
            "SELECT coalesce(sum(charged), 0) || ' ' || coalesce(sum(provider_cost), 0) || ' ' || count(*) \
             FROM provider_resemble_usage WHERE created_at >= '{today}'::date AND created_at < '{today}'::date + 1{filter}"
        )
    };
    let check = |body: &Value, row: String| {
        let mut parts = row.split(' ');
        let charged: Decimal = parts.next().unwrap().parse().unwrap();
        let cost: Decimal = parts.next().unwrap().parse().unwrap();
        let n: i64 = parts.next().unwrap().parse().unwrap();
        assert_eq!(dec(&body["totals"]["charged"]), charged, "{body}");
        assert_eq!(dec(&body["totals"]["provider_cost"]), cost);
        assert_eq!(body["totals"]["requests"], n);
        // The per-capability lines and the series add up to the same totals.
        let by: Decimal = body["by_capability"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| dec(&c["charged"]))
            .sum();
        let series: Decimal = body["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| dec(&c["charged"]))
            .sum();
        assert_eq!(by, charged);
        assert_eq!(series, charged);
    };

    // An account sees exactly its own rows.
    let (code, mine) = app
        .call_as(&alice.key, "GET", &format!("/analytics?{range}"), None)
        .await;
    assert_eq!(code, 200, "{mine}");
    check(&mine, app.psql(&sql(Some(&alice))).await.unwrap());
    let caps: Vec<&str> = mine["by_capability"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["capability"].as_str().unwrap())
        .collect();
    assert_eq!(caps, ["stt", "tts"]);
    // By hour, the same totals.
    let (_, hourly) = app
        .call_as(
            &alice.key,
            "GET",
            &format!("/analytics?{range}&granularity=hour"),
            None,
        )
        .await;
    check(&hourly, app.psql(&sql(Some(&alice))).await.unwrap());

    // The admin sees every account, or one.
    let (code, all) = app
        .call_as(ADMIN_KEY, "GET", &format!("/analytics?{range}"), None)
        .await;
    assert_eq!(code, 200, "{all}");
    check(&all, app.psql(&sql(None)).await.unwrap());
    let (_, just_bob) = app
        .call_as(
            ADMIN_KEY,
            "GET",
            &format!("/analytics?{range}&account_id={}", bob.account.0),
            None,
        )
        .await;
    check(&just_bob, app.psql(&sql(Some(&bob))).await.unwrap());

    // Refusals name the field; an account cannot ask for another account.
    let (code, err) = app
        .call_as(
            &alice.key,
            "GET",
            &format!("/analytics?{range}&account_id={}", bob.account.0),
            None,
        )
        .await;
    assert_eq!(code, 422);
    assert_eq!(err["error"]["field"], "account_id");
    for (q, field) in [
        ("from=2026-99-01", "from"),
        ("from=2026-11-25&to=2026-11-24", "from"),
        ("granularity=week", "granularity"),
        ("from=2025-01-01&to=2026-11-24", "from"),
    ] {
        let (code, err) = app
            .call_as(&alice.key, "GET", &format!("/analytics?{q}"), None)
            .await;
        assert_eq!(code, 422, "{q}");
        assert_eq!(err["error"]["field"], field, "{q}");
    }
    let (code, _) = app
        .call_as("ixk_0000000000000000_nope", "GET", "/analytics", None)
        .await;
    assert_eq!(code, 401);
}

/// A chromedriver driving Debian's headless Chromium, stopped when dropped.
struct Browser {
    driver: tokio::process::Child,
    url: String,
    session: String,
    http: reqwest::Client,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new(
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()),
        )
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect(
            "chromedriver runs (cargo xtask ci installs Debian's chromium and chromium-driver)",
        );
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let ready = eventually(|| async {
            let r = http.get(format!("{url}/status")).send().await.ok()?;
            r.status().is_success().then_some(())
        })
        .await;
        assert!(ready.is_some(), "chromedriver answers");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]
            }
        }}});
        let resp: Value = http
            .post(format!("{url}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {resp}"))
            .to_owned();
        Browser {
            driver,
            url,
            session,
            http,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .request(
                method,
                format!("{}/session/{}{path}", self.url, self.session),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        resp.json::<Value>().await.unwrap()["value"].take()
    }

    async fn open(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({"url": url}))
            .await;
    }

    async fn find_all(&self, css: &str) -> Vec<String> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn one(&self, css: &str) -> String {
        self.find_all(css)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no {css}"))
    }

    async fn text(&self, element: &str) -> String {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{element}/text"),
            json!({}),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    async fn attr(&self, element: &str, name: &str) -> String {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{element}/attribute/{name}"),
            json!({}),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Waits until `css` matches at least one element.
    async fn wait_for(&self, css: &str) -> Vec<String> {
        for _ in 0..100 {
            let found = self.find_all(css).await;
            if !found.is_empty() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never appeared");
    }

    async fn stop(mut self) {
        self.cmd(reqwest::Method::DELETE, "", json!({})).await;
        let _ = self.driver.kill().await;
    }
}

#[tokio::test]
async fn the_console_signs_in_and_shows_the_spend_chart_and_jobs_from_real_data() {
    let app = spawn_app().await;
    let user = app.user("5.00").await;
    app.some_usage(&user).await;
    let rows = app.usage(user.account).await;
    let spent: Decimal = rows.iter().map(|r| r.charged).sum();

    let browser = Browser::start().await;
    browser.open(&format!("{}/console", app.root)).await;
    // A wrong key is refused on the page.
    let input = browser.one("#api-key").await;
    browser
        .cmd(
            reqwest::Method::POST,
            &format!("/element/{input}/value"),
            json!({"text": "ixk_0000000000000000_wrong"}),
        )
        .await;
    let button = browser.one("#sign-in").await;
    browser
        .cmd(
            reqwest::Method::POST,
            &format!("/element/{button}/click"),
            json!({}),
        )
        .await;
    let error = browser.one("#sign-in-error").await;
    let mut refused = String::new();
    for _ in 0..50 {
        refused = browser.text(&error).await;
        if !refused.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused.contains("not accepted"), "{refused:?}");

    // The real key signs in.
    browser
        .cmd(
            reqwest::Method::POST,
            &format!("/element/{input}/clear"),
            json!({}),
        )
        .await;
    browser
        .cmd(
            reqwest::Method::POST,
            &format!("/element/{input}/value"),
            json!({"text": user.key}),
        )
        .await;
    browser
        .cmd(
            reqwest::Method::POST,
            &format!("/element/{button}/click"),
            json!({}),
        )
        .await;

    // The spend chart has a bar for today carrying exactly what the rows add up to.
    let today = chrono::Utc::now().date_naive().to_string();
    let bars = browser.wait_for("#spend-chart rect.bar").await;
    assert_eq!(bars.len(), 30, "one bar per day of the last 30 days");
    let today_bar = browser
        .one(&format!("#spend-chart rect[data-day='{today}']"))
        .await;
    let charged: Decimal = browser
        .attr(&today_bar, "data-charged")
        .await
        .parse()
        .unwrap();
    assert_eq!(charged, spent);
    let total = browser.text(&browser.one("#spend-total").await).await;
    assert_eq!(total, format!("{spent} USD"));

    // The jobs table lists the finished job with its charge, and capability lines are there.
    let job_rows = browser.wait_for("#jobs tbody tr").await;
    assert_eq!(job_rows.len(), 1);
    let cells = browser.text(&job_rows[0]).await;
    let stt = rows.iter().find(|r| r.capability == "stt").unwrap();
    assert!(
        cells.contains("stt") && cells.contains("completed"),
        "{cells}"
    );
    assert!(cells.contains(&stt.charged.to_string()), "{cells}");
    let caps = browser.find_all("#by-capability tbody tr").await;
    assert_eq!(caps.len(), 2);
    let balance = browser.text(&browser.one("#balance").await).await;
    assert_eq!(balance, app.account(user.account).await.balance.to_string());
    browser.stop().await;
}

#[tokio::test]
async fn operators_see_every_account_and_the_reconciliation_status() {
    let app = spawn_app().await;
    let user = app.user("5.00").await;
    assert_eq!(
        app.synthesize(&user, tts_body("Counted by both sides.", "mp3"))
            .await
            .status(),
        200
    );
    let today = chrono::Utc::now().date_naive();
    indox_server::app::reconcile::run_range(&app.app, today, today)
        .await
        .unwrap();

    let browser = Browser::start().await;
    browser.open(&format!("{}/console", app.root)).await;
    let input = browser.one("#api-key").await;
    browser
        .cmd(
            reqwest::Method::POST,
            &format!("/element/{input}/value"),
            json!({"text": ADMIN_KEY}),
        )
        .await;
    let button = browser.one("#sign-in").await;
    browser
        .cmd(
            reqwest::Method::POST,
            &format!("/element/{button}/click"),
            json!({}),
        )
        .await;
    let rows = browser.wait_for("#reconciliation tbody tr").await;
    let mut synth = None;
    for r in &rows {
        let text = browser.text(r).await;
        if text.contains("synth") {
            synth = Some(text);
        }
    }
    let synth = synth.expect("a synth line");
    assert!(
        synth.contains("ok") && synth.contains(&today.to_string()),
        "{synth}"
    );
    let who = browser.text(&browser.one("#who").await).await;
    assert!(who.contains("operator"), "{who}");
    browser.stop().await;
}
