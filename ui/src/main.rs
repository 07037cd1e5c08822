//! The Tessera web app: Dioxus compiled to wasm, served by `shell serve` (the `ui` module) and
//! talking only to the gateway, with the domains' own wire types.
//!
//! - [`api`]: typed calls, problem+json errors, the one-refresh-then-retry rule.
//! - [`session`]: the access token in memory, the refresh token in an HttpOnly cookie, tabs in
//!   step.
//! - [`live`]: the notification stream behind the bell.
//! - [`pages`]: one module per route; [`components`]: what they share.

mod api;
mod components;
mod live;
mod net;
mod pages;
mod session;
mod time;

use dioxus::prelude::*;

use components::Title;
use components::layout::{AppShell, PublicLayout, Root};
use pages::account::{ForgotPassword, Login, Register, ResetPassword};
use pages::admin::AdminUsers;
use pages::landing::Landing;
use pages::notifications::Notifications;
use pages::profile::Profile;
use pages::task::TaskDetail;
use pages::tasks::Tasks;

/// Every page of the app. Deep links work on reload: the server answers any of these paths
/// with the app.
#[derive(Debug, Clone, PartialEq, Routable)]
#[rustfmt::skip]
pub enum Route {
    #[layout(Root)]
        /// What Tessera is.
        #[route("/")]
        Landing {},
        #[layout(PublicLayout)]
            /// Sign in.
            #[route("/login")]
            Login {},
            /// Create an account.
            #[route("/register")]
            Register {},
            /// Ask for a reset link.
            #[route("/forgot-password")]
            ForgotPassword {},
            /// The page the reset e-mail links to.
            #[route("/reset-password?:token")]
            ResetPassword {
                /// The single-use token from the link.
                token: String,
            },
        #[end_layout]
        #[layout(AppShell)]
            /// The dashboard.
            #[route("/tasks")]
            Tasks {},
            /// One task.
            #[route("/tasks/:id")]
            TaskDetail {
                /// The task id.
                id: String,
            },
            /// The notification centre.
            #[route("/notifications")]
            Notifications {},
            /// The signed-in user's profile.
            #[route("/profile")]
            Profile {},
            /// Users, for administrators.
            #[route("/admin/users")]
            AdminUsers {},
        #[end_layout]
        /// Anything else.
        #[route("/:..segments")]
        NotFound {
            /// The path.
            segments: Vec<String>,
        },
}

fn main() {
    dioxus::launch(App);
}

#[component]
fn App() -> Element {
    use_hook(|| {
        spawn(session::restore());
        spawn(session::follow_other_tabs());
    });
    rsx! { Router::<Route> {} }
}

/// Any other path.
#[component]
fn NotFound(segments: Vec<String>) -> Element {
    let _ = segments;
    rsx! {
        Title { text: "Not found · Tessera" }
        main { id: "main-content", class: "flex min-h-screen flex-col items-center justify-center px-4 text-center",
            p { class: "text-sm font-medium text-indigo-600 dark:text-indigo-400", "404" }
            h1 { class: "mt-2 text-2xl font-semibold tracking-tight", "Page not found" }
            p { class: "mt-2 text-zinc-600 dark:text-zinc-400", "The page you asked for does not exist." }
            Link { to: Route::Landing {}, class: "btn-primary mt-6", "Go to Tessera" }
        }
    }
}
