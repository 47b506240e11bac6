//! `UsageAnalytics` on Postgres: `provider_resemble_usage` summed per UTC time bucket and
//! capability with `numeric` sums (exact), for one account or all.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use indox_billing::analytics::{AnalyticsQuery, Bucket, UsageAnalytics};
use indox_billing::BillingError;
use rust_decimal::Decimal;

use crate::{PgError, PgStore};

/// Parameters: $1 granularity (`day` or `hour`), $2 start, $3 end (exclusive), $4 account or NULL.
const BUCKETS_SQL: &str = "\
SELECT date_trunc($1, created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS period,
       capability, unit,
       count(*) AS requests,
       sum(quantity) AS quantity,
       sum(provider_cost) AS provider_cost,
       sum(markup) AS markup,
       sum(charged) AS charged
FROM provider_resemble_usage
WHERE created_at >= $2 AND created_at < $3 AND ($4::uuid IS NULL OR account_id = $4)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3";

#[derive(QueryableByName)]
struct BucketRow {
    #[diesel(sql_type = Timestamptz)]
    period: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    capability: String,
    #[diesel(sql_type = Text)]
    unit: String,
    #[diesel(sql_type = BigInt)]
    requests: i64,
    #[diesel(sql_type = Numeric)]
    quantity: Decimal,
    #[diesel(sql_type = Numeric)]
    provider_cost: Decimal,
    #[diesel(sql_type = Numeric)]
    markup: Decimal,
    #[diesel(sql_type = Numeric)]
    charged: Decimal,
}

#[async_trait]
impl UsageAnalytics for PgStore {
    async fn buckets(&self, query: &AnalyticsQuery) -> Result<Vec<Bucket>, BillingError> {
        let mut conn = self.conn().await?;
        let rows: Vec<BucketRow> = diesel::sql_query(BUCKETS_SQL)
            .bind::<Text, _>(query.granularity.as_str())
            .bind::<Timestamptz, _>(query.start())
            .bind::<Timestamptz, _>(query.end())
            .bind::<Nullable<SqlUuid>, _>(query.account.map(|a| a.0))
            .load(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .into_iter()
            .map(|r| Bucket {
                period: r.period,
                capability: r.capability,
                unit: r.unit,
                requests: r.requests,
                quantity: r.quantity,
                provider_cost: r.provider_cost,
                markup: r.markup,
                charged: r.charged,
            })
            .collect())
    }
}
