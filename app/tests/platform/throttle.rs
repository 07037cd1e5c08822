//! The Redis attempt counters.

use std::time::Duration;

use fred::prelude::KeysInterface;
use sha2::{Digest, Sha256};
use tessera_app::throttle::{Limit, Throttle, Verdict};

use crate::support::TestRedis;

fn limit(max: u64) -> Limit {
    Limit {
        name: "test",
        max,
        window: Duration::from_secs(60),
    }
}

/// The key the throttle keeps `subject`'s counter under.
fn key(redis: &TestRedis, subject: &str) -> String {
    let digest = Sha256::digest(subject.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    redis.settings.key(&["throttle", "test", &hex])
}

#[tokio::test]
async fn every_counter_has_an_expiry_even_one_left_without() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let throttle = Throttle::new(redis.client.clone(), redis.settings.clone());
    assert_eq!(throttle.hit(&limit(2), "a").await, Verdict::Allowed);
    let ttl: i64 = redis.client.ttl(key(&redis, "a")).await?;
    assert!((1..=60).contains(&ttl), "{ttl}");
    // A counter without an expiry (what a crash between INCR and EXPIRE used to leave) gets
    // one at its next hit instead of refusing its subject forever.
    let _: () = redis
        .client
        .set(key(&redis, "b"), 5, None, None, false)
        .await?;
    let verdict = throttle.hit(&limit(2), "b").await;
    assert!(matches!(verdict, Verdict::Limited { retry_after } if (1..=60).contains(&retry_after)));
    let ttl: i64 = redis.client.ttl(key(&redis, "b")).await?;
    assert!((1..=60).contains(&ttl), "{ttl}");
    Ok(())
}

#[tokio::test]
async fn forgiving_takes_one_attempt_back_and_never_creates_a_counter() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let throttle = Throttle::new(redis.client.clone(), redis.settings.clone());
    assert_eq!(throttle.count(&limit(2), "c").await, Some(1));
    assert_eq!(throttle.count(&limit(2), "c").await, Some(2));
    throttle.forgive(&limit(2), "c").await;
    assert_eq!(throttle.count(&limit(2), "c").await, Some(2));
    throttle.forgive(&limit(2), "c").await;
    throttle.forgive(&limit(2), "c").await;
    let exists: i64 = redis.client.exists(key(&redis, "c")).await?;
    assert_eq!(exists, 0, "a counter back at zero is removed");
    // Forgiving a subject without a counter (its window expired) leaves nothing behind: a
    // DECR would create a key without an expiry.
    throttle.forgive(&limit(2), "d").await;
    let exists: i64 = redis.client.exists(key(&redis, "d")).await?;
    assert_eq!(exists, 0);
    Ok(())
}
