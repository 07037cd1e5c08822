//! The in-process adapter of `tessera_app::domain_clients::NotificationClient`: what a worker mounted
//! in the same process calls instead of `POST /notifications/send`.

use std::time::Duration;

use actix_web::ResponseError;
use tessera_app::domain_clients::{NOTIFICATION_SERVICE, NotificationClient};
use tessera_app::error::ApiError;
use tessera_app::module::BoxFuture;
use tessera_app::service_client::ClientError;
use tessera_contracts::notifications::{Notification, SendNotification};
use tracing::Instrument;

use crate::service::{NotificationError, Notifications};

/// Calls the same use case as `POST /notifications/send`, with the same validation and
/// idempotency, and reports failures as the HTTP adapter would have seen them. No token is
/// minted: the trust boundary is the process.
#[derive(Clone)]
pub struct InProcessNotificationClient {
    service: Notifications,
}

impl InProcessNotificationClient {
    pub(crate) fn new(service: Notifications) -> Self {
        Self { service }
    }
}

impl std::fmt::Debug for InProcessNotificationClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InProcessNotificationClient")
    }
}

impl NotificationClient for InProcessNotificationClient {
    fn send(
        &self,
        req: SendNotification,
        request_id: Option<String>,
    ) -> BoxFuture<Result<Notification, ClientError>> {
        let service = self.service.clone();
        let span = tracing::info_span!(
            "notification_send",
            request_id = request_id.as_deref().unwrap_or_default()
        );
        Box::pin(
            async move {
                service
                    .send(req)
                    .await
                    .map(|sent| sent.notification)
                    .map_err(client_error)
            }
            .instrument(span),
        )
    }
}

/// The error the HTTP adapter would have reported for the answer the route gives: 5xx
/// (including 500) is `Unavailable` and worth a retry, any 4xx is `Rejected` with its problem.
fn client_error(e: NotificationError) -> ClientError {
    let unavailable = |status: u16, retry_after: Option<u64>| ClientError::Unavailable {
        service: NOTIFICATION_SERVICE,
        status: Some(status),
        retry_after: retry_after.map(Duration::from_secs),
        reason: format!("answered {status}"),
        source: None,
    };
    match ApiError::from(e) {
        ApiError::Unavailable { retry_after, .. } => unavailable(503, retry_after),
        ApiError::Internal(cause) => {
            // No HTTP layer logs it in-process, so it is logged here, once.
            tracing::error!(error = format!("{cause:#}"), "notification send failed");
            unavailable(500, None)
        }
        api => ClientError::Rejected {
            service: NOTIFICATION_SERVICE,
            status: api.status_code().as_u16(),
            problem: Some(Box::new(api.problem())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_as_the_http_adapter_sees_them() {
        assert!(matches!(
            client_error(NotificationError::RecipientUnknown),
            ClientError::Unavailable {
                status: Some(503),
                retry_after: Some(_),
                ..
            }
        ));
        assert!(matches!(
            client_error(NotificationError::Internal(anyhow::anyhow!("bug"))),
            ClientError::Unavailable {
                status: Some(500),
                ..
            }
        ));
        let ClientError::Rejected {
            status, problem, ..
        } = client_error(NotificationError::RecipientGone)
        else {
            panic!("rejected");
        };
        assert_eq!(status, 410);
        assert_eq!(
            problem.map(|p| p.kind).as_deref(),
            Some("urn:tessera:problem:recipient-gone")
        );
        let rejected = client_error(NotificationError::Validation(vec![
            tessera_contracts::problem::FieldError {
                field: "message".to_owned(),
                message: "must be 1 to 5000 characters".to_owned(),
            },
        ]));
        assert!(matches!(
            rejected,
            ClientError::Rejected { status: 400, .. }
        ));
        assert!(!rejected.is_retryable());
    }
}
