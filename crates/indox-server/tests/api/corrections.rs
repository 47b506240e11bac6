//! Corrections are new ledger entries (B6): refunds bounded by what a row charged, signed
//! adjustments that never overdraw, and a database that refuses edits of the ledger and the
//! usage rows. Also: malformed query strings and JSON get the JSON error body.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn refunds_and_adjustments_are_new_entries_and_the_ledger_cannot_be_edited() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let tts: Value = app
        .synthesize(&user, tts_body("A line to refund.", "mp3"))
        .await
        .json()
        .await
        .unwrap();
    let usage = tts["billing"]["usage_id"].as_str().unwrap().to_owned();
    let charged = dec(&tts["billing"]["charged"]);
    let after_charge = app.account(user.account).await.balance;

    // A partial refund, then the rest; a third is refused: refunds never exceed the charge.
    let half = (charged / Decimal::TWO).round_dp(8);
    let (code, r) = app
        .call_as(
            ADMIN_KEY,
            "POST",
            &format!("/admin/usage/{usage}/refunds"),
            Some(json!({"amount": half.to_string(), "note": "customer complaint"})),
        )
        .await;
    assert_eq!(code, 201, "{r}");
    assert_eq!(dec(&r["balance"]), after_charge + half);
    let rest = charged - half;
    let (code, _) = app
        .call_as(
            ADMIN_KEY,
            "POST",
            &format!("/admin/usage/{usage}/refunds"),
            Some(json!({"amount": rest.to_string(), "note": "the rest"})),
        )
        .await;
    assert_eq!(code, 201);
    let (code, err) = app
        .call_as(
            ADMIN_KEY,
            "POST",
            &format!("/admin/usage/{usage}/refunds"),
            Some(json!({"amount": "0.00000001", "note": "too much"})),
        )
        .await;
    assert_eq!(code, 422, "{err}");
    assert_eq!(err["error"]["code"], "refund_too_large");
    assert_eq!(app.account(user.account).await.balance, Decimal::ONE);

    // Adjustments: a credit, and a debit that would overdraw is refused.
    let (code, a) = app
        .call_as(
            ADMIN_KEY,
            "POST",
            &format!("/admin/accounts/{}/adjustments", user.account.0),
            Some(json!({"amount": "-0.25", "note": "goodwill reversal"})),
        )
        .await;
    assert_eq!(code, 201, "{a}");
    assert_eq!(dec(&a["balance"]), Decimal::new(75, 2));
    let (code, err) = app
        .call_as(
            ADMIN_KEY,
            "POST",
            &format!("/admin/accounts/{}/adjustments", user.account.0),
            Some(json!({"amount": "-5", "note": "too much"})),
        )
        .await;
    assert_eq!(code, 402, "{err}");
    for bad in [
        json!({"amount": 1.5, "note": "x"}),
        json!({"amount": "0", "note": "x"}),
        json!({"amount": "1", "note": ""}),
        json!({"amount": "1"}),
    ] {
        let (code, err) = app
            .call_as(
                ADMIN_KEY,
                "POST",
                &format!("/admin/accounts/{}/adjustments", user.account.0),
                Some(bad.clone()),
            )
            .await;
        assert!(code == 400 || code == 422, "{bad}: {code} {err}");
        assert!(err["error"]["code"].is_string(), "JSON error body: {err}");
    }
    // Without the admin key, nothing.
    let resp = app
        .client
        .post(format!(
            "{}/admin/accounts/{}/adjustments",
            app.base, user.account.0
        ))
        .bearer_auth(&user.key)
        .json(&json!({"amount": "100", "note": "free money"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Every change is an entry and the sums still match (B6)…
    let (balance_sum, held_sum) = app.pg.ledger_sum(user.account).await.unwrap();
    let account = app.account(user.account).await;
    assert_eq!((account.balance, account.held), (balance_sum, held_sum));
    let kinds = app
        .psql(&format!(
            "SELECT string_agg(kind, ',' ORDER BY id) FROM ledger_entries WHERE account_id = '{}'",
            user.account.0
        ))
        .await
        .unwrap();
    assert_eq!(kinds, "top_up,charge,refund,refund,adjustment");
    // …and neither the ledger nor the usage rows can be edited or removed, even in SQL.
    for sql in [
        "UPDATE ledger_entries SET amount = 1000".to_owned(),
        "DELETE FROM ledger_entries".to_owned(),
        "TRUNCATE ledger_entries CASCADE".to_owned(),
        format!("UPDATE provider_resemble_usage SET charged = 0 WHERE id = '{usage}'"),
        "DELETE FROM provider_resemble_usage".to_owned(),
    ] {
        assert!(app.psql(&sql).await.is_err(), "{sql} is refused");
    }
}

#[tokio::test]
async fn malformed_query_strings_get_the_json_error_body() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    for path in ["/resemble/jobs?limit=many", "/resemble/jobs?limit=-1"] {
        let resp = app
            .client
            .get(format!("{}{path}", app.base))
            .bearer_auth(&user.key)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.expect("a JSON body");
        assert!(status == 400 || status == 422, "{path}: {status}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
}
