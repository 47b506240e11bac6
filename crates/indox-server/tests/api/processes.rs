//! Several gateway processes on one Postgres, Redis, upstream and bucket: every job is
//! finished and billed once, whichever process submits, polls or receives the webhook, and
//! a process that dies leaves its jobs to the others.

use std::collections::HashSet;

use serde_json::json;

use crate::helpers::*;

async fn submit_stt(app: &TestApp, user: &User, url: &str) -> String {
    let r = app
        .client
        .post(format!("{}/resemble/stt", app.base))
        .bearer_auth(&user.key)
        .json(&json!({"audio_url": url}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    r.json::<serde_json::Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn finished(app: &TestApp, id: &str) -> bool {
    let job = app
        .app
        .jobs
        .get(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    job.status.is_terminal()
}

#[tokio::test]
async fn two_processes_finish_a_batch_of_jobs_and_bill_each_once() {
    // Fast polling and webhooks at once, in two processes: every job is raced.
    let fast = || Options {
        job_poll_interval: chrono::Duration::milliseconds(20),
        ..Options::default()
    };
    let a = spawn_app_with(fast()).await;
    let b = spawn_peer(&a, fast()).await;
    let user = a.user("5.00").await;
    let url = a
        .stored_audio_url(
            &user,
            "Batch of jobs",
            json!({"output_format": "wav", "sample_rate": 8000}),
        )
        .await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let app = if i % 2 == 0 { &a } else { &b };
        ids.push(submit_stt(app, &user, &url).await);
    }
    for id in &ids {
        assert!(
            eventually(|| async { finished(&a, id).await.then_some(()) })
                .await
                .is_some(),
            "job {id} ended"
        );
    }
    let rows: Vec<_> = a
        .usage(user.account)
        .await
        .into_iter()
        .filter(|r| r.capability == "stt")
        .collect();
    assert_eq!(rows.len(), ids.len(), "one usage row per job");
    let billed: HashSet<String> = rows.iter().map(|r| r.job_id.unwrap().to_string()).collect();
    assert_eq!(billed, ids.iter().cloned().collect::<HashSet<_>>());
    let account = a.account(user.account).await;
    assert_eq!(account.held, rust_decimal::Decimal::ZERO);
    let (balance, held) = a.pg.ledger_sum(user.account).await.unwrap();
    assert_eq!((balance, held), (account.balance, account.held));
}

#[tokio::test]
async fn a_killed_process_leaves_its_job_to_another_which_bills_it_once() {
    // A submits the job upstream, then dies before it polls or gets a webhook.
    let a = spawn_app_with(Options {
        webhooks: false,
        job_poll_interval: chrono::Duration::seconds(2),
        ..Options::default()
    })
    .await;
    let user = a.user("1.00").await;
    let url = a
        .stored_audio_url(
            &user,
            "Survive a crash",
            json!({"output_format": "wav", "sample_rate": 8000}),
        )
        .await;
    let id = submit_stt(&a, &user, &url).await;
    eventually(|| async {
        let job = a.app.jobs.get(id.parse().unwrap()).await.unwrap().unwrap();
        job.upstream_id.map(|_| ())
    })
    .await
    .expect("A sent the job upstream");
    a.kill().await;

    // B, on the same database, picks the queued poll up and finishes the job.
    let b = spawn_peer(
        &a,
        Options {
            webhooks: false,
            job_poll_interval: chrono::Duration::milliseconds(50),
            ..Options::default()
        },
    )
    .await;
    assert!(
        eventually(|| async { finished(&b, &id).await.then_some(()) })
            .await
            .is_some(),
        "B finished A's job"
    );
    let job = b.app.jobs.get(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(job.result.unwrap()["transcript"], "Survive a crash");
    let rows: Vec<_> = b
        .usage(user.account)
        .await
        .into_iter()
        .filter(|r| r.capability == "stt")
        .collect();
    assert_eq!(rows.len(), 1);
}
