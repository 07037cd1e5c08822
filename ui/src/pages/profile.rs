//! `/profile`: name, bio and avatar (with a preview), and the e-mail and role.

use dioxus::prelude::*;
use tessera_contracts::patch::Patch;
use tessera_user::wire::{Profile as UserProfile, UpdateProfileRequest};

use crate::api::{ApiError, Call};
use crate::components::Title;
use crate::components::form::{Field, SubmissionAlert, TextArea, use_submission};
use crate::session;
use crate::time;

fn patch_of(value: &str) -> Patch<String> {
    if value.trim().is_empty() {
        Patch::Clear
    } else {
        Patch::Set(value.to_owned())
    }
}

/// `/profile`.
#[component]
pub fn Profile() -> Element {
    let user_id = session::user()
        .map(|u| u.user.id.0.to_string())
        .unwrap_or_default();
    let mut profile = use_signal(|| None::<UserProfile>);
    let mut load_error = use_signal(|| None::<ApiError>);
    let mut name = use_signal(String::new);
    let mut bio = use_signal(String::new);
    let mut avatar = use_signal(String::new);
    let form = use_submission();
    let mut saved = use_signal(|| false);
    let mut fill = move |p: &UserProfile| {
        name.set(p.name.clone().unwrap_or_default());
        bio.set(p.bio.clone().unwrap_or_default());
        avatar.set(p.avatar.clone().unwrap_or_default());
    };
    let path = format!("/users/{user_id}");
    let load_path = path.clone();
    use_hook(move || {
        spawn(async move {
            match Call::get(load_path).fetch::<UserProfile>().await {
                Ok(p) => {
                    fill(&p);
                    profile.set(Some(p));
                }
                Err(err) => load_error.set(Some(err)),
            }
        })
    });
    let submit = move |e: FormEvent| {
        e.prevent_default();
        saved.set(false);
        let change = UpdateProfileRequest {
            name: patch_of(&name()),
            bio: patch_of(&bio()),
            avatar: patch_of(avatar().trim()),
        };
        let path = path.clone();
        form.run(async move {
            let p = Call::patch(path)
                .json(&change)
                .fetch::<UserProfile>()
                .await?;
            fill(&p);
            profile.set(Some(p));
            saved.set(true);
            Ok(())
        });
    };
    let field = |n: &str| form.field(n);
    let preview = avatar().trim().to_owned();
    let show_preview = preview.starts_with("https://") && field("avatar").is_none();
    rsx! {
        Title { text: "Profile · Tessera" }
        h1 { class: "text-2xl font-semibold tracking-tight", "Profile" }
        match profile() {
            None => rsx! {
                if let Some(e) = load_error() {
                    p { role: "alert", class: "mt-4 text-sm text-red-700 dark:text-red-300", "Your profile could not be loaded. {e.message()}" }
                } else {
                    div { class: "mt-6 space-y-3", aria_busy: "true", aria_label: "Loading your profile",
                        div { class: "skeleton h-10 w-full" }
                        div { class: "skeleton h-24 w-full" }
                        div { class: "skeleton h-10 w-full" }
                    }
                }
            },
            Some(p) => rsx! {
                div { class: "mt-6 grid gap-6 lg:grid-cols-[16rem_1fr]",
                    section { class: "card h-fit p-5", aria_label: "Account",
                        div { class: "flex items-center gap-3",
                            if show_preview {
                                img { src: "{preview}", alt: "Avatar preview", class: "size-16 rounded-full border border-zinc-200 object-cover dark:border-zinc-700", referrerpolicy: "no-referrer" }
                            } else {
                                span { class: "grid size-16 place-items-center rounded-full bg-indigo-100 text-2xl font-semibold uppercase text-indigo-700 dark:bg-indigo-950 dark:text-indigo-300", aria_hidden: "true",
                                    {p.name.clone().or(Some(p.email.clone())).and_then(|n| n.chars().next()).map(String::from).unwrap_or_default()}
                                }
                            }
                            div { class: "min-w-0",
                                p { class: "truncate font-medium", {p.name.clone().unwrap_or_else(|| "No name yet".to_owned())} }
                                span { class: "badge badge-zinc mt-1", "{p.role.as_str()}" }
                            }
                        }
                        dl { class: "mt-5 space-y-3 text-sm",
                            div {
                                dt { class: "text-zinc-600 dark:text-zinc-400", "Email" }
                                dd { class: "break-all font-medium", "{p.email}" }
                            }
                            div {
                                dt { class: "text-zinc-600 dark:text-zinc-400", "Role" }
                                dd { class: "font-medium", "{p.role.as_str()}" }
                            }
                            div {
                                dt { class: "text-zinc-600 dark:text-zinc-400", "Member since" }
                                dd { class: "font-medium", "{time::date(&p.created_at)}" }
                            }
                        }
                    }
                    form { class: "card space-y-4 p-5", novalidate: true, onsubmit: submit,
                        SubmissionAlert { form }
                        Field { id: "name", label: "Name", value: name, autocomplete: "name", error: field("name") }
                        TextArea { id: "bio", label: "Bio", value: bio, error: field("bio") }
                        Field { id: "avatar", label: "Avatar URL", value: avatar, kind: "url", placeholder: "https://…", hint: "An https address of a picture.", error: field("avatar") }
                        div { class: "flex items-center gap-3",
                            button { r#type: "submit", class: "btn-primary", disabled: form.busy(), aria_busy: if form.busy() { "true" },
                                if form.busy() { span { class: "spinner", aria_hidden: "true" } }
                                if form.busy() { "Saving…" } else { "Save profile" }
                            }
                            if saved() && !form.busy() {
                                span { role: "status", class: "text-sm text-emerald-700 dark:text-emerald-400", "Profile saved." }
                            }
                        }
                    }
                }
            },
        }
    }
}
