//! Internal HTTP calls (`ServiceClient`, `HttpNotificationClient`) against a real actix server
//! that checks service tokens with the real `ServiceCaller` extractor.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::net::TcpListener;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;
use tessera_app::config::{Env, Secret, TokenSettings};
use tessera_app::domain_clients::{HttpNotificationClient, NotificationClient, SEND_PATH};
use tessera_app::error::{ApiError, json_config};
use tessera_app::queue::JobError;
use tessera_app::service_client::{ClientError, Endpoint, ServiceClient};
use tessera_app::tokens::{ServiceCaller, Tokens, bearer};
use tessera_contracts::notifications::{
    Notification, NotificationChannel, NotificationType, SendNotification,
};
use tessera_contracts::{Role, UserId};
use uuid::Uuid;

/// What the server saw of one accepted call.
#[derive(Debug, Clone)]
struct Seen {
    caller: String,
    token: String,
    request_id: Option<String>,
    body: SendNotification,
}

type Log = web::Data<Mutex<Vec<Seen>>>;

/// A test server on 127.0.0.1:0, stopped by [`TestServer::stop`].
struct TestServer {
    base: String,
    handle: ServerHandle,
    seen: Log,
}

impl TestServer {
    async fn start(tokens: Tokens) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen: Log = web::Data::new(Mutex::new(Vec::new()));
        let data = web::Data::new(tokens);
        let log = seen.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(log.clone())
                .app_data(json_config(64 * 1024))
                .route(SEND_PATH, web::post().to(send))
                .route("/unavailable", web::post().to(unavailable))
                .route("/limited", web::post().to(limited))
                .route("/garbage", web::post().to(garbage))
                .route("/slow", web::post().to(slow))
                .route("/empty", web::post().to(empty))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { base, handle, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// The real route's contract: a service token, then a body of the right shape (unknown fields
/// are a 400 problem through `json_config`). Answers 201 with the notification it "stored".
async fn send(
    req: HttpRequest,
    caller: ServiceCaller,
    body: web::Json<SendNotification>,
    log: Log,
) -> HttpResponse {
    let body = body.into_inner();
    log.lock().unwrap().push(Seen {
        caller: caller.service,
        token: bearer(&req).unwrap_or_default().to_owned(),
        request_id: req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.clone(),
    });
    HttpResponse::Created().json(Notification {
        id: Uuid::new_v4(),
        user_id: body.user_id,
        r#type: body.r#type,
        channel: body.channel,
        subject: body.subject,
        message: body.message,
        read: false,
        created_at: chrono::Utc::now(),
    })
}

async fn unavailable(_: ServiceCaller) -> Result<HttpResponse, ApiError> {
    Err(ApiError::Unavailable {
        detail: "the database is unavailable".to_owned(),
        retry_after: Some(3),
    })
}

async fn limited(_: ServiceCaller) -> Result<HttpResponse, ApiError> {
    Err(ApiError::TooManyRequests {
        detail: "slow down".to_owned(),
        retry_after: 7,
    })
}

async fn garbage(_: ServiceCaller) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"id": "not a notification", "email": "ada@example.com"}"#)
}

async fn slow(_: ServiceCaller) -> HttpResponse {
    tokio::time::sleep(Duration::from_secs(10)).await;
    HttpResponse::NoContent().finish()
}

async fn empty(_: ServiceCaller) -> HttpResponse {
    HttpResponse::NoContent().finish()
}

fn tokens() -> Tokens {
    Tokens::new(&TokenSettings {
        jwt_secret: Secret::new(Uuid::new_v4().simple().to_string().repeat(2)),
        access_ttl: Duration::from_secs(900),
        refresh_ttl: Duration::from_secs(3600),
        internal_secret: Secret::new(Uuid::new_v4().simple().to_string().repeat(2)),
    })
}

fn client(base: &str, tokens: &Tokens, timeout: Duration) -> ServiceClient {
    let endpoint = Endpoint::new("notification", base, timeout).unwrap();
    ServiceClient::new(endpoint, "worker", tokens.clone()).unwrap()
}

fn notification_client(base: &str, tokens: &Tokens) -> HttpNotificationClient {
    let env = Env::from_pairs([("NOTIFICATION_SERVICE_URL", base)]);
    HttpNotificationClient::from_env(&env, "worker", tokens.clone()).unwrap()
}

fn request() -> SendNotification {
    SendNotification {
        user_id: UserId(Uuid::new_v4()),
        r#type: NotificationType::Success,
        channel: NotificationChannel::InApp,
        subject: Some("Task completed".to_owned()),
        message: "You completed \"Write the report\".".to_owned(),
        template: None,
        data: Some(json!({"taskId": "t-1"})),
        idempotency_key: Some("job-42".to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_carries_a_service_token_and_the_request_id_and_decodes_the_answer() {
    let tokens = tokens();
    let server = TestServer::start(tokens.clone()).await;
    let notifications = notification_client(&server.base, &tokens);

    let req = request();
    let sent = notifications
        .send(req.clone(), Some("req-123".to_owned()))
        .await
        .unwrap();
    assert_eq!(sent.user_id, req.user_id);
    assert_eq!(sent.r#type, NotificationType::Success);
    assert_eq!(sent.channel, NotificationChannel::InApp);
    assert_eq!(sent.message, req.message);
    assert!(!sent.read);

    // An invalid request id is not forwarded (the other side would replace it anyway).
    notifications
        .send(req.clone(), Some("not a valid id!".to_owned()))
        .await
        .unwrap();
    notifications.send(req.clone(), None).await.unwrap();

    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    let first = &seen[0];
    assert_eq!(first.caller, "worker");
    assert_eq!(first.request_id.as_deref(), Some("req-123"));
    assert_eq!(first.body, req);
    let claims = tokens.verify_service(&first.token).unwrap();
    assert_eq!(claims.sub, "worker");
    assert_eq!(claims.typ, "service");
    assert!(claims.exp - claims.iat <= 300);
    assert_eq!(seen[1].request_id, None);
    assert_eq!(seen[2].request_id, None);
    // The token is cached, not minted per call.
    assert_eq!(seen[1].token, first.token);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_token_is_refused_and_a_401_is_a_permanent_rejection() {
    let tokens = tokens();
    let server = TestServer::start(tokens.clone()).await;

    // The route refuses a user's access token in place of a service token.
    let access = tokens
        .issue_access(UserId(Uuid::new_v4()), "ada@example.com", Role::Admin)
        .unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}{SEND_PATH}", server.base))
        .bearer_auth(access)
        .json(&request())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );

    // A caller whose service token the server does not accept (another INTERNAL_JWT_SECRET)
    // gets the same 401: a rejection no retry fixes.
    let misconfigured = notification_client(&server.base, &self::tokens());
    let err = misconfigured
        .send(request(), Some("req-401".to_owned()))
        .await
        .unwrap_err();
    match &err {
        ClientError::Rejected {
            service,
            status,
            problem,
        } => {
            assert_eq!((*service, *status), ("notification", 401));
            let problem = problem.as_ref().expect("a problem+json body");
            assert_eq!(problem.kind, "urn:tessera:problem:unauthorized");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(matches!(JobError::from(err), JobError::Permanent(_)));
    assert!(server.seen().is_empty(), "no call got through");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_is_unavailable_and_defers_the_job() {
    let tokens = tokens();
    let server = TestServer::start(tokens.clone()).await;
    let client = client(&server.base, &tokens, Duration::from_secs(5));

    let err = client
        .post_json::<_, Notification>("/unavailable", &request(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Unavailable {
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    assert!(err.is_retryable());
    assert!(matches!(JobError::from(err), JobError::Unavailable(_)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_problem_is_rejected_with_the_problem_and_not_retried() {
    let tokens = tokens();
    let server = TestServer::start(tokens.clone()).await;
    let client = client(&server.base, &tokens, Duration::from_secs(5));

    // A body the route's contract refuses: an unknown field.
    let mut body = serde_json::to_value(request()).unwrap();
    body["priority"] = json!("HIGH");
    let err = client
        .post_json::<_, Notification>(SEND_PATH, &body, Some("req-400"))
        .await
        .unwrap_err();
    let ClientError::Rejected {
        status, problem, ..
    } = &err
    else {
        panic!("expected Rejected, got {err:?}");
    };
    assert_eq!(*status, 400);
    let problem = problem.as_ref().expect("a problem+json body");
    assert_eq!(problem.kind, "urn:tessera:problem:validation");
    assert_eq!(problem.status, 400);
    assert_eq!(
        problem.errors.first().map(|e| e.field.as_str()),
        Some("priority")
    );
    assert!(!err.is_retryable());
    assert!(matches!(JobError::from(err), JobError::Permanent(_)));
    assert!(server.seen().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retryable_with_its_retry_after_and_defers_the_job() {
    let tokens = tokens();
    let server = TestServer::start(tokens.clone()).await;
    let client = client(&server.base, &tokens, Duration::from_secs(5));

    let err = client
        .post_no_content("/limited", &json!({}), None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert!(matches!(err, ClientError::Unavailable { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert!(matches!(JobError::from(err), JobError::Unavailable(_)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_2xx_is_a_decode_error_that_retries() {
    let tokens = tokens();
    let server = TestServer::start(tokens.clone()).await;
    let client = client(&server.base, &tokens, Duration::from_secs(5));

    let err = client
        .post_json::<_, Notification>("/garbage", &json!({}), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Decode { status: 200, .. }),
        "{err:?}"
    );
    // The message says where decoding failed, never what the body held.
    assert!(!err.to_string().contains("ada@"), "{err}");
    assert!(matches!(JobError::from(err), JobError::Retry(_)));

    // The same answer is fine for a caller that expects no content.
    client
        .post_no_content("/garbage", &json!({}), None)
        .await
        .unwrap();
    client
        .post_no_content("/empty", &json!({}), None)
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_unavailable_after_the_timeout() {
    let tokens = tokens();
    let server = TestServer::start(tokens.clone()).await;
    let client = client(&server.base, &tokens, Duration::from_millis(300));

    // Bounded from outside, so a client without a working timeout fails instead of hanging.
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        client.post_no_content("/slow", &json!({}), None),
    )
    .await
    .expect("the client timed out on its own");
    let err = result.unwrap_err();
    assert!(
        matches!(err, ClientError::Unavailable { status: None, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(matches!(JobError::from(err), JobError::Unavailable(_)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_unavailable() {
    // A port that was free a moment ago and has no listener now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tokens = tokens();
    let notifications = notification_client(&format!("http://127.0.0.1:{port}"), &tokens);

    let err = tokio::time::timeout(Duration::from_secs(10), notifications.send(request(), None))
        .await
        .expect("a refused connection fails fast")
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Unavailable {
                status: None,
                service: "notification",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        ApiError::from(err).to_string(),
        "the notification service is unavailable"
    );
}
