//! The account forms: sign in, create an account, forgot and reset password.

use dioxus::prelude::*;
use tessera_auth::wire::{
    ForgotPasswordRequest, MessageResponse, RegisterRequest, RegisterResponse, ResetPasswordRequest,
};

use crate::Route;
use crate::api::Call;
use crate::components::Title;
use crate::components::form::{Field, SubmissionAlert, Submit, use_submission};
use crate::session::{self, AUTH, Auth, FLASH};

/// `/login`.
#[component]
pub fn Login() -> Element {
    let email = use_signal(String::new);
    let password = use_signal(String::new);
    let form = use_submission();
    let notice = match &*AUTH.read() {
        Auth::SignedOut { notice } => notice.clone(),
        _ => None,
    };
    let flash = FLASH();
    let submit = move |e: FormEvent| {
        e.prevent_default();
        form.run(async move {
            session::login(email(), password()).await?;
            *FLASH.write() = None;
            navigator().replace(Route::Tasks {});
            Ok(())
        });
    };
    rsx! {
        Title { text: "Sign in · Tessera" }
        h1 { class: "text-xl font-semibold tracking-tight", "Sign in" }
        p { class: "mt-1 text-sm text-zinc-600 dark:text-zinc-400", "Welcome back. Your tasks are waiting." }
        if let Some(text) = flash {
            p { role: "status", class: "notice mt-4", "{text}" }
        } else if let Some(text) = notice {
            p { role: "status", class: "notice mt-4", "{text}" }
        }
        form { class: "mt-6 space-y-4", novalidate: true, onsubmit: submit,
            SubmissionAlert { form }
            Field { id: "email", label: "Email", value: email, kind: "email", autocomplete: "email", required: true, autofocus: true, error: form.field("email") }
            Field { id: "password", label: "Password", value: password, kind: "password", autocomplete: "current-password", required: true, error: form.field("password") }
            div { class: "flex justify-end text-sm",
                Link { to: Route::ForgotPassword {}, class: "link", "Forgot password?" }
            }
            Submit { label: "Sign in", busy: form.busy(), busy_label: "Signing in…" }
        }
        p { class: "mt-6 text-center text-sm text-zinc-600 dark:text-zinc-400",
            "New to Tessera? "
            Link { to: Route::Register {}, class: "link", "Create account" }
        }
    }
}

/// `/register`: creates the account, then signs in.
#[component]
pub fn Register() -> Element {
    let name = use_signal(String::new);
    let email = use_signal(String::new);
    let password = use_signal(String::new);
    let form = use_submission();
    let submit = move |e: FormEvent| {
        e.prevent_default();
        form.run(async move {
            let request = RegisterRequest {
                email: email(),
                password: password(),
                name: Some(name()).filter(|n| !n.trim().is_empty()),
            };
            Call::post("/auth/register")
                .public()
                .json(&request)
                .fetch::<RegisterResponse>()
                .await?;
            session::login(email(), password()).await?;
            navigator().replace(Route::Tasks {});
            Ok(())
        });
    };
    rsx! {
        Title { text: "Create account · Tessera" }
        h1 { class: "text-xl font-semibold tracking-tight", "Create your account" }
        p { class: "mt-1 text-sm text-zinc-600 dark:text-zinc-400", "Free, and it takes ten seconds." }
        form { class: "mt-6 space-y-4", novalidate: true, onsubmit: submit,
            SubmissionAlert { form }
            Field { id: "name", label: "Name", value: name, autocomplete: "name", autofocus: true, error: form.field("name") }
            Field { id: "email", label: "Email", value: email, kind: "email", autocomplete: "email", required: true, error: form.field("email") }
            Field { id: "password", label: "Password", value: password, kind: "password", autocomplete: "new-password", required: true, hint: "At least 8 characters.", error: form.field("password") }
            Submit { label: "Create account", busy: form.busy(), busy_label: "Creating account…" }
        }
        p { class: "mt-6 text-center text-sm text-zinc-600 dark:text-zinc-400",
            "Already have an account? "
            Link { to: Route::Login {}, class: "link", "Sign in" }
        }
    }
}

/// `/forgot-password`.
#[component]
pub fn ForgotPassword() -> Element {
    let email = use_signal(String::new);
    let form = use_submission();
    let mut sent = use_signal(|| None::<String>);
    let submit = move |e: FormEvent| {
        e.prevent_default();
        form.run(async move {
            Call::post("/auth/forgot-password")
                .public()
                .json(&ForgotPasswordRequest { email: email() })
                .fetch::<MessageResponse>()
                .await?;
            sent.set(Some(email()));
            Ok(())
        });
    };
    rsx! {
        Title { text: "Forgot password · Tessera" }
        h1 { class: "text-xl font-semibold tracking-tight", "Reset your password" }
        if let Some(address) = sent() {
            p { role: "status", class: "notice mt-4",
                "If an account exists for {address}, a reset link is on its way. It works once, for 30 minutes."
            }
            p { class: "mt-6 text-center text-sm",
                Link { to: Route::Login {}, class: "link", "Back to sign in" }
            }
        } else {
            p { class: "mt-1 text-sm text-zinc-600 dark:text-zinc-400", "Enter your e-mail address and we will send you a link to choose a new password." }
            form { class: "mt-6 space-y-4", novalidate: true, onsubmit: submit,
            SubmissionAlert { form }
                Field { id: "email", label: "Email", value: email, kind: "email", autocomplete: "email", required: true, autofocus: true, error: form.field("email") }
                Submit { label: "Send reset link", busy: form.busy(), busy_label: "Sending…" }
            }
            p { class: "mt-6 text-center text-sm",
                Link { to: Route::Login {}, class: "link", "Back to sign in" }
            }
        }
    }
}

/// `/reset-password?token=…`: the page the e-mailed link opens.
#[component]
pub fn ResetPassword(token: String) -> Element {
    let password = use_signal(String::new);
    let form = use_submission();
    let token = use_signal(|| token);
    let submit = move |e: FormEvent| {
        e.prevent_default();
        form.run(async move {
            let request = ResetPasswordRequest {
                token: token(),
                password: password(),
            };
            Call::post("/auth/reset-password")
                .public()
                .json(&request)
                .send()
                .await?;
            *FLASH.write() =
                Some("Your password has been changed. Sign in with the new one.".to_owned());
            navigator().replace(Route::Login {});
            Ok(())
        });
    };
    // The API answers a bad, expired or spent token as a validation problem on `token`.
    let token_spent = token().is_empty() || form.field("token").is_some();
    rsx! {
        Title { text: "Choose a new password · Tessera" }
        h1 { class: "text-xl font-semibold tracking-tight", "Choose a new password" }
        if token_spent {
            div { role: "alert", class: "mt-4 rounded-lg border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-900 dark:bg-amber-950 dark:text-amber-100",
                if token().is_empty() {
                    "This reset link is incomplete. Open the link from the e-mail again, or request a new one."
                } else {
                    "This reset link has expired or was already used. Reset links work once, for 30 minutes."
                }
            }
            p { class: "mt-6 text-center text-sm",
                Link { to: Route::ForgotPassword {}, class: "link", "Request a new link" }
            }
        } else {
            p { class: "mt-1 text-sm text-zinc-600 dark:text-zinc-400", "A new password signs you out on every device; then sign in with it." }
            form { class: "mt-6 space-y-4", novalidate: true, onsubmit: submit,
            SubmissionAlert { form }
                Field { id: "password", label: "New password", value: password, kind: "password", autocomplete: "new-password", required: true, autofocus: true, hint: "At least 8 characters.", error: form.field("password") }
                Submit { label: "Set new password", busy: form.busy(), busy_label: "Saving…" }
            }
        }
    }
}
