//! The Redis Streams job queue.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, anyhow, ensure};
use fred::prelude::StreamsInterface;
use fred::types::streams::XReadResponse;
use serde_json::json;
use tessera_app::queue::{
    HandlerFuture, Job, JobError, Queue, QueueMetrics, QueueSettings, QueueStats, ReplaySelector,
    Subscription,
};
use tessera_app::service_client::ClientError;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::support::{Calls, TestRedis, eventually, fast_settings};

const WAIT: Duration = Duration::from_secs(10);

/// A running consumer and the token that stops it.
struct Running {
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    fn start(queue: &Queue, subs: Vec<Subscription>, name: &str) -> Self {
        let shutdown = CancellationToken::new();
        let handle = queue.spawn_consumer(subs, name.to_owned(), shutdown.clone());
        Self { shutdown, handle }
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.handle)
            .await
            .context("consumer did not stop")???;
        Ok(())
    }
}

async fn stats_of(queue: &Queue, topic: &str, group: &str) -> anyhow::Result<QueueStats> {
    queue
        .stats()
        .await?
        .into_iter()
        .find(|s| s.topic == topic && s.group == group)
        .ok_or_else(|| anyhow!("no stats for {topic}/{group}"))
}

/// Nothing pending, delayed, unread or dead: the group is done with everything published.
async fn wait_settled(queue: &Queue, topic: &str, group: &str) -> anyhow::Result<()> {
    eventually(&format!("{topic}/{group} to settle"), WAIT, || async {
        let s = stats_of(queue, topic, group).await?;
        Ok(s.pending == 0 && s.delayed == 0 && s.lag == Some(0))
    })
    .await
}

/// A handler that records every call and fails while `fails_left` is positive.
fn flaky(
    calls: &Calls,
    fails_left: usize,
) -> impl Fn(Job) -> HandlerFuture + Send + Sync + 'static {
    let calls = calls.clone();
    let fails_left = Arc::new(AtomicUsize::new(fails_left));
    move |job: Job| {
        calls.push(&job);
        let fail = fails_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        Box::pin(async move {
            if fail {
                Err(JobError::Retry(anyhow!("transient failure")))
            } else {
                Ok(())
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_job_is_handled_once_and_acknowledged() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let queue = redis.queue(fast_settings());
    let calls = Calls::default();
    let job = Job::new("user.registered", json!({"userId": "u-1"})).with_request_id("req-1");

    let entry_id = queue.publish(&job).await?;
    let consumer = Running::start(
        &queue,
        vec![Subscription::new(
            "user.registered",
            "user",
            flaky(&calls, 0),
        )],
        "w1",
    );

    eventually("the handler to run", WAIT, || async {
        Ok(calls.len() == 1)
    })
    .await?;
    wait_settled(&queue, "user.registered", "user").await?;
    consumer.stop().await?;

    assert!(
        entry_id.contains('-'),
        "stream ids look like ms-seq, got {entry_id}"
    );
    let seen = calls.all();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].id, job.id);
    assert_eq!(seen[0].data, job.data);
    assert_eq!(seen[0].attempt, 1);
    assert_eq!(seen[0].request_id.as_deref(), Some("req-1"));
    let stats = stats_of(&queue, "user.registered", "user").await?;
    assert_eq!((stats.pending, stats.delayed, stats.dead), (0, 0, 0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_fails_twice_is_retried_and_succeeds_exactly_once() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let registry = prometheus::Registry::new();
    let metrics = QueueMetrics::new(&registry)?;
    let queue = Queue::new(
        redis.client.clone(),
        redis.settings.clone(),
        fast_settings(),
        Some(metrics.clone()),
    );
    let calls = Calls::default();
    let job = Job::new("task.created", json!({"taskId": 1}));
    queue.publish(&job).await?;

    let consumer = Running::start(
        &queue,
        vec![Subscription::new(
            "task.created",
            "notification",
            flaky(&calls, 2),
        )],
        "w1",
    );
    eventually("three attempts", WAIT, || async { Ok(calls.len() >= 3) }).await?;
    wait_settled(&queue, "task.created", "notification").await?;
    consumer.stop().await?;

    assert_eq!(calls.attempts(), vec![1, 2, 3]);
    assert!(
        calls.all().iter().all(|j| j.id == job.id),
        "retries keep the job id"
    );
    let labels = ["task.created", "notification"];
    assert_eq!(metrics.processed.with_label_values(&labels).get(), 1);
    assert_eq!(metrics.retried.with_label_values(&labels).get(), 2);
    assert_eq!(metrics.dead_lettered.with_label_values(&labels).get(), 0);
    let stats = stats_of(&queue, "task.created", "notification").await?;
    assert_eq!(stats.dead, 0);
    // Retries are private to the group: the topic stream still holds only the original.
    assert_eq!(
        redis
            .jobs_in(&queue.stream_key("task.created"))
            .await?
            .len(),
        1
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_failing_every_attempt_is_dead_lettered_and_replay_brings_it_back()
-> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let queue = redis.queue(fast_settings()); // max_attempts = 3
    let calls = Calls::default();
    let failing = Arc::new(AtomicBool::new(true));
    let handler = {
        let (calls, failing) = (calls.clone(), failing.clone());
        move |job: Job| {
            calls.push(&job);
            let fail = failing.load(Ordering::SeqCst);
            async move {
                if fail {
                    Err(JobError::Retry(anyhow!("smtp refused")))
                } else {
                    Ok(())
                }
            }
        }
    };
    let job = Job::new("email.send", json!({"template": "reset"}));
    queue.publish(&job).await?;
    let consumer = Running::start(
        &queue,
        vec![Subscription::new("email.send", "notification", handler)],
        "w1",
    );

    eventually("a dead letter", WAIT, || async {
        Ok(!queue.list_dead().await?.is_empty())
    })
    .await?;
    let dead = queue.list_dead().await?;
    assert_eq!(dead.len(), 1);
    let entry = &dead[0];
    assert_eq!(
        (entry.topic.as_str(), entry.group.as_str()),
        ("email.send", "notification")
    );
    assert_eq!(entry.job.as_ref().map(|j| j.id), Some(job.id));
    assert_eq!(entry.attempts, 3);
    assert!(
        entry.error.contains("smtp refused"),
        "error was {:?}",
        entry.error
    );
    assert_eq!(calls.attempts(), vec![1, 2, 3]);
    assert_eq!(
        stats_of(&queue, "email.send", "notification").await?.dead,
        1
    );

    failing.store(false, Ordering::SeqCst);
    assert_eq!(
        queue
            .replay(ReplaySelector::One(job.id.to_string()))
            .await?,
        1
    );
    eventually("the replayed job to run", WAIT, || async {
        Ok(calls.len() == 4)
    })
    .await?;
    wait_settled(&queue, "email.send", "notification").await?;
    consumer.stop().await?;

    assert_eq!(
        calls.attempts(),
        vec![1, 2, 3, 1],
        "replay restarts at attempt 1"
    );
    assert!(queue.list_dead().await?.is_empty());
    assert_eq!(
        stats_of(&queue, "email.send", "notification").await?.dead,
        0
    );
    assert_eq!(
        queue.replay(ReplaySelector::All).await?,
        0,
        "nothing left to replay"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_error_dead_letters_the_job_at_once() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let queue = redis.queue(fast_settings());
    let calls = Calls::default();
    let handler = {
        let calls = calls.clone();
        move |job: Job| {
            calls.push(&job);
            async { Err(JobError::Permanent(anyhow!("unknown template"))) }
        }
    };
    let job = Job::new("email.send", json!({}));
    queue.publish(&job).await?;
    let consumer = Running::start(
        &queue,
        vec![Subscription::new("email.send", "notification", handler)],
        "w1",
    );

    eventually("a dead letter", WAIT, || async {
        Ok(!queue.list_dead().await?.is_empty())
    })
    .await?;
    wait_settled(&queue, "email.send", "notification").await?;
    consumer.stop().await?;

    let dead = queue.list_dead().await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 1);
    assert!(dead[0].error.contains("unknown template"));
    assert_eq!(calls.attempts(), vec![1]);

    // Replay by dead-letter entry id puts it in the group's retry stream, not the topic stream.
    assert_eq!(
        queue
            .replay(ReplaySelector::One(dead[0].entry_id.clone()))
            .await?,
        1
    );
    let replayed = redis
        .jobs_in(&queue.retry_key("email.send", "notification"))
        .await?;
    assert_eq!(replayed.len(), 1);
    assert_eq!((replayed[0].id, replayed[0].attempt), (job.id, 1));
    assert_eq!(
        redis.jobs_in(&queue.stream_key("email.send")).await?.len(),
        1
    );
    assert!(queue.list_dead().await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_group_gets_each_job_once_and_a_retry_stays_in_its_group() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let queue = redis.queue(fast_settings());
    let (flaky_calls, steady_calls) = (Calls::default(), Calls::default());
    let job = Job::new("user.registered", json!({"userId": "u-2"}));
    queue.publish(&job).await?;

    let consumer = Running::start(
        &queue,
        vec![
            Subscription::new("user.registered", "user", flaky(&flaky_calls, 1)),
            Subscription::new("user.registered", "notification", flaky(&steady_calls, 0)),
        ],
        "w1",
    );
    eventually("the retry to succeed", WAIT, || async {
        Ok(flaky_calls.len() == 2)
    })
    .await?;
    wait_settled(&queue, "user.registered", "user").await?;
    wait_settled(&queue, "user.registered", "notification").await?;
    consumer.stop().await?;

    assert_eq!(flaky_calls.attempts(), vec![1, 2]);
    assert_eq!(
        steady_calls.attempts(),
        vec![1],
        "the other group never sees the retry"
    );
    assert!(
        steady_calls
            .all()
            .iter()
            .chain(flaky_calls.all().iter())
            .all(|j| j.id == job.id)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_taken_by_a_consumer_that_died_is_reclaimed_after_the_visibility_timeout()
-> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let settings = fast_settings();
    let visibility = settings.visibility_timeout;
    let queue = redis.queue(settings);
    let calls = Calls::default();
    let job = Job::new("task.completed", json!({"taskId": 7}));
    let stream = queue.stream_key("task.completed");
    queue.publish(&job).await?;

    // A "ghost" consumer reads the job and dies before acknowledging it.
    let _: () = redis
        .client
        .xgroup_create(&stream, "task", "0", true)
        .await?;
    let taken: XReadResponse<String, String, String, String> = redis
        .client
        .xreadgroup_map("task", "ghost", Some(1), None, false, stream.as_str(), ">")
        .await?;
    ensure!(
        taken.values().map(Vec::len).sum::<usize>() == 1,
        "the ghost did not get the job"
    );
    let taken_at = Instant::now();

    let consumer = Running::start(
        &queue,
        vec![Subscription::new(
            "task.completed",
            "task",
            flaky(&calls, 0),
        )],
        "w2",
    );
    eventually("the job to be reclaimed", WAIT, || async {
        Ok(calls.len() == 1)
    })
    .await?;
    let reclaimed_after = taken_at.elapsed();
    wait_settled(&queue, "task.completed", "task").await?;
    consumer.stop().await?;

    assert!(
        reclaimed_after >= visibility,
        "reclaimed after only {reclaimed_after:?}"
    );
    let seen = calls.all();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].id, job.id);
    assert_eq!(seen[0].attempt, 2, "the lost delivery counts as an attempt");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_job_leaves_the_job_to_another_consumer() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let queue = redis.queue(fast_settings());
    let (hung, finished) = (Calls::default(), Calls::default());
    let hanging = {
        let hung = hung.clone();
        move |job: Job| {
            hung.push(&job);
            async { std::future::pending::<Result<(), JobError>>().await }
        }
    };
    let job = Job::new("user.deleted", json!({"userId": "u-3"}));
    queue.publish(&job).await?;

    let first = queue.spawn_consumer(
        vec![Subscription::new("user.deleted", "auth", hanging)],
        "doomed".to_owned(),
        CancellationToken::new(),
    );
    eventually("the first consumer to start the job", WAIT, || async {
        Ok(hung.len() == 1)
    })
    .await?;
    first.abort(); // the process dies: no ack, no retry scheduling

    let second = Running::start(
        &queue,
        vec![Subscription::new(
            "user.deleted",
            "auth",
            flaky(&finished, 0),
        )],
        "survivor",
    );
    eventually("the survivor to finish the job", WAIT, || async {
        Ok(finished.len() == 1)
    })
    .await?;
    wait_settled(&queue, "user.deleted", "auth").await?;
    second.stop().await?;

    assert_eq!(finished.all()[0].id, job.id);
    assert_eq!(finished.attempts(), vec![2]);
    assert_eq!(hung.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_overruns_its_timeout_is_retried() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let queue = redis.queue(fast_settings()); // handler_timeout = 400 ms
    let calls = Calls::default();
    let handler = {
        let calls = calls.clone();
        move |job: Job| {
            calls.push(&job);
            async move {
                if job.attempt == 1 {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                Ok(())
            }
        }
    };
    queue.publish(&Job::new("task.created", json!({}))).await?;
    let consumer = Running::start(
        &queue,
        vec![Subscription::new("task.created", "task", handler)],
        "w1",
    );
    eventually("the second attempt", WAIT, || async {
        Ok(calls.len() == 2)
    })
    .await?;
    wait_settled(&queue, "task.created", "task").await?;
    consumer.stop().await?;

    assert_eq!(calls.attempts(), vec![1, 2]);
    assert_eq!(stats_of(&queue, "task.created", "task").await?.dead, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_running_job_finish_and_acknowledges_it() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let queue = redis.queue(fast_settings());
    let (started, done) = (Calls::default(), Calls::default());
    let handler = {
        let (started, done) = (started.clone(), done.clone());
        move |job: Job| {
            started.push(&job);
            let done = done.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                done.push(&job);
                Ok(())
            }
        }
    };
    queue
        .publish(&Job::new("task.completed", json!({})))
        .await?;
    let consumer = Running::start(
        &queue,
        vec![Subscription::new("task.completed", "notification", handler)],
        "w1",
    );
    eventually("the job to start", WAIT, || async {
        Ok(started.len() == 1)
    })
    .await?;

    consumer.stop().await?;

    assert_eq!(
        done.len(),
        1,
        "stop returned before the running job finished"
    );
    let stats = stats_of(&queue, "task.completed", "notification").await?;
    assert_eq!((stats.pending, stats.delayed, stats.dead), (0, 0, 0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_subscriptions_are_refused() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let queue = redis.queue(fast_settings());
    let calls = Calls::default();
    let bad = queue
        .consume(
            vec![Subscription::new(
                "user:registered",
                "user",
                flaky(&calls, 0),
            )],
            "w1".to_owned(),
            CancellationToken::new(),
        )
        .await;
    assert!(bad.is_err());
    let twice = queue
        .consume(
            vec![
                Subscription::new("user.registered", "user", flaky(&calls, 0)),
                Subscription::new("user.registered", "user", flaky(&calls, 0)),
            ],
            "w1".to_owned(),
            CancellationToken::new(),
        )
        .await;
    assert!(twice.is_err());
    assert!(
        queue
            .publish(&Job::new("bad topic", json!({})))
            .await
            .is_err()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_group_loses_nothing_when_the_stream_passes_its_cap() -> anyhow::Result<()> {
    // Regression: `XADD ... MAXLEN ~` trimmed entries a stopped group had not read yet.
    const JOBS: usize = 300;
    let redis = TestRedis::new().await?;
    let queue = redis.queue(QueueSettings {
        stream_max_len: 10,
        ..fast_settings()
    });
    let topic = "task.created";
    let (slow_calls, fast_calls) = (Calls::default(), Calls::default());

    // The slow group exists but its workers are stopped while the jobs arrive.
    let slow = Running::start(
        &queue,
        vec![Subscription::new(topic, "slow", flaky(&slow_calls, 0))],
        "slow-1",
    );
    eventually("the slow group to exist", WAIT, || async {
        Ok(stats_of(&queue, topic, "slow").await.is_ok())
    })
    .await?;
    slow.stop().await?;

    let fast = Running::start(
        &queue,
        vec![Subscription::new(topic, "fast", flaky(&fast_calls, 0))],
        "fast-1",
    );
    let mut published = HashSet::new();
    for n in 0..JOBS {
        let job = Job::new(topic, json!({ "n": n }));
        queue.publish(&job).await?;
        published.insert(job.id);
    }
    wait_settled(&queue, topic, "fast").await?;
    assert_eq!(fast_calls.len(), JOBS);
    let stream = queue.stream_key(topic);
    let kept: u64 = redis.client.xlen(&stream).await?;
    assert_eq!(kept, JOBS as u64, "entries the slow group needs stay");

    let slow = Running::start(
        &queue,
        vec![Subscription::new(topic, "slow", flaky(&slow_calls, 0))],
        "slow-2",
    );
    wait_settled(&queue, topic, "slow").await?;
    slow.stop().await?;
    let seen: HashSet<_> = slow_calls.all().into_iter().map(|j| j.id).collect();
    assert_eq!(slow_calls.len(), JOBS, "each job once");
    assert_eq!(seen, published, "the slow group got every job");

    // With both groups caught up, the next publish trims what everybody has read.
    queue
        .publish(&Job::new(topic, json!({ "n": JOBS })))
        .await?;
    let kept: u64 = redis.client.xlen(&stream).await?;
    assert!(kept < JOBS as u64, "read entries are trimmed (kept {kept})");
    fast.stop().await?;
    Ok(())
}

/// What the notification service's client answers while the service is down.
fn service_down() -> ClientError {
    ClientError::Unavailable {
        service: "notification",
        status: None,
        retry_after: None,
        reason: "connection failed".to_owned(),
        source: None,
    }
}

fn queue_with_metrics(
    redis: &TestRedis,
    settings: QueueSettings,
) -> anyhow::Result<(Queue, QueueMetrics)> {
    let registry = prometheus::Registry::new();
    let metrics = QueueMetrics::new(&registry)?;
    let queue = Queue::new(
        redis.client.clone(),
        redis.settings.clone(),
        settings,
        Some(metrics.clone()),
    );
    Ok((queue, metrics))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_every_attempt_defers_the_job_which_then_completes_once()
-> anyhow::Result<()> {
    // Regression: an unavailable dependency spent attempts like any failure, so an outage of a
    // few seconds dead-lettered every job that needed it.
    let redis = TestRedis::new().await?;
    let (queue, metrics) = queue_with_metrics(&redis, fast_settings())?; // max_attempts = 3
    const OUTAGE: usize = 7;
    let calls = Calls::default();
    let handler = {
        let calls = calls.clone();
        let down_for = Arc::new(AtomicUsize::new(OUTAGE));
        move |job: Job| {
            calls.push(&job);
            let down = down_for
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            async move {
                if down {
                    // What `?` on the client's error gives a handler.
                    Err(JobError::from(service_down()))
                } else {
                    Ok(())
                }
            }
        }
    };
    let job = Job::new("task.created", json!({"taskId": 3}));
    queue.publish(&job).await?;
    let consumer = Running::start(
        &queue,
        vec![Subscription::new("task.created", "worker", handler)],
        "w1",
    );
    eventually("the job to get through", WAIT, || async {
        Ok(calls.len() > OUTAGE || !queue.list_dead().await?.is_empty())
    })
    .await?;
    wait_settled(&queue, "task.created", "worker").await?;
    consumer.stop().await?;

    assert!(queue.list_dead().await?.is_empty(), "nothing dead-lettered");
    assert_eq!(calls.len(), OUTAGE + 1, "done once, after the outage");
    assert!(
        calls.all().iter().all(|j| j.attempt == 1 && j.id == job.id),
        "the outage spent no attempt: {:?}",
        calls.attempts()
    );
    let deferrals: Vec<u32> = calls.all().iter().map(|j| j.deferrals).collect();
    assert_eq!(deferrals, (0..=OUTAGE as u32).collect::<Vec<_>>());
    let labels = ["task.created", "worker"];
    assert_eq!(metrics.processed.with_label_values(&labels).get(), 1);
    assert_eq!(
        metrics.deferred.with_label_values(&labels).get(),
        OUTAGE as u64
    );
    assert_eq!(metrics.retried.with_label_values(&labels).get(), 0);
    assert_eq!(metrics.dead_lettered.with_label_values(&labels).get(), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_deferral_budget_spends_attempts_and_is_dead_lettered() -> anyhow::Result<()>
{
    let redis = TestRedis::new().await?;
    let queue = redis.queue(QueueSettings {
        max_deferrals: 2,
        ..fast_settings() // max_attempts = 3
    });
    let calls = Calls::default();
    let handler = {
        let calls = calls.clone();
        move |job: Job| {
            calls.push(&job);
            async { Err(JobError::from(service_down())) }
        }
    };
    let job = Job::new("email.send", json!({}));
    queue.publish(&job).await?;
    let consumer = Running::start(
        &queue,
        vec![Subscription::new("email.send", "worker", handler)],
        "w1",
    );
    eventually("a dead letter", WAIT, || async {
        Ok(!queue.list_dead().await?.is_empty())
    })
    .await?;
    wait_settled(&queue, "email.send", "worker").await?;
    consumer.stop().await?;

    let seen: Vec<(u32, u32)> = calls
        .all()
        .iter()
        .map(|j| (j.attempt, j.deferrals))
        .collect();
    assert_eq!(seen, vec![(1, 0), (1, 1), (1, 2), (2, 2), (3, 2)]);
    let dead = queue.list_dead().await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3);
    assert!(dead[0].error.contains("unavailable"), "{}", dead[0].error);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_forever_subscription_keeps_retrying_past_max_attempts_until_it_applies()
-> anyhow::Result<()> {
    // Regression: `user.deleted` was dead-lettered after max_attempts real failures, leaving the
    // deleted user able to log in.
    let redis = TestRedis::new().await?;
    let (queue, metrics) = queue_with_metrics(&redis, fast_settings())?; // max_attempts = 3
    const FAILURES: usize = 6;
    let (calls, applied) = (Calls::default(), Calls::default());
    let failures_left = Arc::new(AtomicUsize::new(FAILURES));
    let sub = {
        let (calls, applied) = (calls.clone(), applied.clone());
        Subscription::typed(
            "user.deleted",
            "auth",
            move |job: Job, event: serde_json::Map<String, serde_json::Value>| {
                calls.push(&job);
                let fail = failures_left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let applied = applied.clone();
                async move {
                    if fail {
                        // A real failure, not an outage: it spends attempts.
                        return Err(tessera_app::db::DbError::NotFound);
                    }
                    assert!(event.contains_key("userId"));
                    applied.push(&job);
                    Ok(())
                }
            },
        )
        .retry_forever()
    };
    let job = Job::new("user.deleted", json!({"userId": "u-9"}));
    let malformed = Job::new("user.deleted", json!(["not", "an", "event"]));
    queue.publish(&job).await?;
    queue.publish(&malformed).await?;
    let consumer = Running::start(&queue, vec![sub], "w1");
    eventually("the deletion to apply", WAIT, || async {
        Ok(applied.len() == 1
            || queue
                .list_dead()
                .await?
                .iter()
                .any(|d| d.job.as_ref().is_some_and(|j| j.id == job.id)))
    })
    .await?;
    wait_settled(&queue, "user.deleted", "auth").await?;
    consumer.stop().await?;

    assert_eq!(applied.len(), 1, "applied once");
    let attempts: Vec<u32> = calls
        .all()
        .iter()
        .filter(|j| j.id == job.id)
        .map(|j| j.attempt)
        .collect();
    assert_eq!(attempts, (1..=FAILURES as u32 + 1).collect::<Vec<_>>());
    // Only the payload that can never be decoded is dead-lettered, and kept.
    let dead = queue.list_dead().await?;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].job.as_ref().map(|j| j.id), Some(malformed.id));
    assert!(dead[0].error.contains("malformed user.deleted payload"));
    let labels = ["user.deleted", "auth"];
    assert_eq!(
        metrics.retried.with_label_values(&labels).get(),
        FAILURES as u64
    );
    assert_eq!(metrics.dead_lettered.with_label_values(&labels).get(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_running_at_shutdown_completes_once_and_is_not_redelivered() -> anyhow::Result<()> {
    // The consumer's drain covers a handler that takes a while; a second consumer started after
    // the stop finds nothing to redo.
    let redis = TestRedis::new().await?;
    let settings = QueueSettings {
        handler_timeout: Duration::from_secs(3),
        visibility_timeout: Duration::from_millis(500),
        ..fast_settings()
    };
    let queue = redis.queue(settings);
    let (started, done) = (Calls::default(), Calls::default());
    let slow = {
        let (started, done) = (started.clone(), done.clone());
        move |job: Job| {
            started.push(&job);
            let done = done.clone();
            async move {
                // Sending an e-mail to a slow mail server.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                done.push(&job);
                Ok(())
            }
        }
    };
    queue.publish(&Job::new("email.send", json!({}))).await?;
    let first = Running::start(
        &queue,
        vec![Subscription::new("email.send", "worker", slow.clone())],
        "w1",
    );
    eventually("the job to start", WAIT, || async {
        Ok(started.len() == 1)
    })
    .await?;
    first.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), first.handle)
        .await
        .context("consumer did not stop")???;
    assert_eq!(
        done.len(),
        1,
        "the running job finished before the stop returned"
    );

    let second = Running::start(
        &queue,
        vec![Subscription::new("email.send", "worker", slow)],
        "w2",
    );
    wait_settled(&queue, "email.send", "worker").await?;
    second.stop().await?;
    assert_eq!(started.len(), 1, "not redelivered");
    assert_eq!(done.len(), 1);
    Ok(())
}

/// A Redis server of the test's own, so it can be killed: its data lives in an append-only file
/// written on every command, so a restart brings back the streams, groups and pending entries.
struct PrivateRedis {
    child: std::process::Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl PrivateRedis {
    fn start() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!("tessera-redis-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let child = Self::spawn(port, &dir)?;
        Ok(Self { child, port, dir })
    }

    fn spawn(port: u16, dir: &std::path::Path) -> anyhow::Result<std::process::Child> {
        std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting redis-server")
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) -> anyhow::Result<()> {
        self.child = Self::spawn(self.port, &self.dir)?;
        Ok(())
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_outcome_could_not_be_recorded_while_redis_was_down_runs_once()
-> anyhow::Result<()> {
    // Regression: a failed XACK left the entry pending; once Redis was back it was reclaimed and
    // the job that had succeeded ran again, its lost outcome counted as an attempt.
    let mut server = PrivateRedis::start()?;
    let settings = tessera_app::redis::RedisSettings {
        url: server.url(),
        prefix: "test".to_owned(),
    };
    let client = tessera_app::redis::connect(&settings).await?;
    eventually("the private Redis to answer", WAIT, || async {
        Ok(fred::prelude::ClientLike::ping::<String>(&client, None)
            .await
            .is_ok())
    })
    .await?;
    let registry = prometheus::Registry::new();
    let metrics = QueueMetrics::new(&registry)?;
    let queue = Queue::new(
        client.clone(),
        settings,
        QueueSettings {
            handler_timeout: Duration::from_secs(2),
            visibility_timeout: Duration::from_secs(3),
            ..fast_settings()
        },
        Some(metrics.clone()),
    );
    let calls = Calls::default();
    let release = Arc::new(tokio::sync::Notify::new());
    let handler = {
        let (calls, release) = (calls.clone(), release.clone());
        move |job: Job| {
            calls.push(&job);
            let release = release.clone();
            async move {
                release.notified().await;
                Ok(())
            }
        }
    };
    let job = Job::new("user.deleted", json!({"userId": "u-4"}));
    queue.publish(&job).await?;
    let consumer = Running::start(
        &queue,
        vec![Subscription::new("user.deleted", "auth", handler)],
        "w1",
    );
    eventually("the job to start", WAIT, || async { Ok(calls.len() == 1) }).await?;

    // Redis goes away while the job runs; the job succeeds, but its ack cannot be written.
    server.kill();
    release.notify_one();
    let labels = ["user.deleted", "auth"];
    eventually("a failed try to record the outcome", WAIT, || async {
        Ok(metrics.unrecorded.with_label_values(&labels).get() >= 1)
    })
    .await?;
    server.restart()?;

    eventually(
        "the ack to be recorded",
        Duration::from_secs(30),
        || async { Ok(metrics.processed.with_label_values(&labels).get() == 1) },
    )
    .await?;
    let stats = eventually_stats(&queue, "user.deleted", "auth").await?;
    consumer.stop().await?;
    assert_eq!(calls.len(), 1, "the job that succeeded did not run again");
    assert_eq!((stats.pending, stats.delayed, stats.dead), (0, 0, 0));
    fred::prelude::ClientLike::quit(&client).await?;
    Ok(())
}

/// The group's stats once nothing is pending, delayed or unread.
async fn eventually_stats(queue: &Queue, topic: &str, group: &str) -> anyhow::Result<QueueStats> {
    wait_settled(queue, topic, group).await?;
    stats_of(queue, topic, group).await
}
