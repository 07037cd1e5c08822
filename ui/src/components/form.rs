//! Form pieces: a labelled input with its error next to it, and the submit button.

use std::future::Future;

use dioxus::prelude::*;

use crate::api::ApiError;

/// A labelled text input. When `error` is set, the input is marked invalid and described by the
/// message, which sits right under it (`<id>-error`).
#[component]
pub fn Field(
    id: String,
    label: String,
    value: Signal<String>,
    #[props(default = "text".to_owned())] kind: String,
    #[props(default)] autocomplete: Option<String>,
    #[props(default)] error: Option<String>,
    #[props(default)] hint: Option<String>,
    #[props(default)] required: bool,
    #[props(default)] autofocus: bool,
    #[props(default)] placeholder: Option<String>,
) -> Element {
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described = match (&error, &hint) {
        (Some(_), _) => Some(error_id.clone()),
        (None, Some(_)) => Some(hint_id.clone()),
        _ => None,
    };
    rsx! {
        div { class: "space-y-1.5",
            label { class: "label", r#for: "{id}", "{label}" }
            input {
                id: "{id}",
                name: "{id}",
                class: "input",
                r#type: "{kind}",
                value: "{value}",
                required,
                autofocus,
                autocomplete,
                placeholder,
                aria_invalid: if error.is_some() { "true" },
                aria_describedby: described,
                oninput: move |e| value.set(e.value()),
            }
            if let Some(message) = &error {
                p { id: "{error_id}", class: "field-error", "{message}" }
            } else if let Some(hint) = &hint {
                p { id: "{hint_id}", class: "text-xs text-zinc-600 dark:text-zinc-400", "{hint}" }
            }
        }
    }
}

/// A multi-line labelled input, with the same error handling as [`Field`].
#[component]
pub fn TextArea(
    id: String,
    label: String,
    value: Signal<String>,
    #[props(default)] error: Option<String>,
    #[props(default = 4)] rows: u32,
) -> Element {
    let error_id = format!("{id}-error");
    rsx! {
        div { class: "space-y-1.5",
            label { class: "label", r#for: "{id}", "{label}" }
            textarea {
                id: "{id}",
                name: "{id}",
                class: "input min-h-24",
                rows: "{rows}",
                value: "{value}",
                aria_invalid: if error.is_some() { "true" },
                aria_describedby: if error.is_some() { error_id.clone() },
                oninput: move |e| value.set(e.value()),
            }
            if let Some(message) = &error {
                p { id: "{error_id}", class: "field-error", "{message}" }
            }
        }
    }
}

/// The primary button of a form: disabled and saying so while the request runs.
#[component]
pub fn Submit(label: String, busy: bool, #[props(default)] busy_label: Option<String>) -> Element {
    let text = if busy {
        busy_label.unwrap_or_else(|| format!("{label}…"))
    } else {
        label.clone()
    };
    rsx! {
        button {
            r#type: "submit",
            class: "btn-primary w-full",
            disabled: busy,
            aria_busy: if busy { "true" },
            if busy {
                span { class: "spinner", aria_hidden: "true" }
            }
            "{text}"
        }
    }
}

/// A form-level message (not about one field): `role="alert"`, with the request id and a
/// button that dismisses it.
#[component]
pub fn FormAlert(
    message: String,
    #[props(default)] request_id: Option<String>,
    on_dismiss: EventHandler<()>,
) -> Element {
    rsx! {
        div { role: "alert", class: "flex items-start gap-3 rounded-lg border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-900 dark:border-red-900 dark:bg-red-950 dark:text-red-100",
            div { class: "flex-1",
                p { "{message}" }
                if let Some(rid) = request_id {
                    p { class: "mt-1 font-mono text-xs opacity-75", "Request ID: {rid}" }
                }
            }
            button { r#type: "button", class: "btn-link -my-0.5 text-xs", onclick: move |_| on_dismiss.call(()), "Dismiss" }
        }
    }
}

/// A form's submission: busy while its request runs (so it cannot be sent twice), and the error
/// it ended with, shown next to the field it names or above the form.
#[derive(Clone, Copy, PartialEq)]
pub struct Submission {
    busy: Signal<bool>,
    error: Signal<Option<ApiError>>,
}

/// A [`Submission`] for the calling component's form.
pub fn use_submission() -> Submission {
    Submission {
        busy: use_signal(|| false),
        error: use_signal(|| None),
    }
}

impl Submission {
    /// Whether the request is running.
    pub fn busy(&self) -> bool {
        (self.busy)()
    }

    /// The error of the last submission.
    pub fn error(&self) -> Option<ApiError> {
        (self.error)()
    }

    /// The last submission's message for `field`.
    pub fn field(&self, field: &str) -> Option<String> {
        self.error.read().as_ref().and_then(|e| e.field(field))
    }

    /// Runs `work` unless a submission is running already; keeps its error for the form.
    pub fn run(mut self, work: impl Future<Output = Result<(), ApiError>> + 'static) {
        if *self.busy.peek() {
            return;
        }
        self.busy.set(true);
        self.error.set(None);
        spawn(async move {
            if let Err(err) = work.await {
                self.error.set(Some(err));
            }
            self.busy.set(false);
        });
    }
}

/// The form-level message of a submission, if its error is not a validation problem about the
/// form's fields (those sit next to their fields).
#[component]
pub fn SubmissionAlert(form: Submission) -> Element {
    let mut error = form.error;
    let Some(err) = form.error() else {
        return rsx! {};
    };
    if err.status() == Some(400) && !err.field_errors().is_empty() {
        return rsx! {};
    }
    rsx! {
        FormAlert { message: err.message(), request_id: err.request_id(), on_dismiss: move |_| error.set(None) }
    }
}

/// A labelled `<select>`.
#[component]
pub fn Select(
    id: String,
    label: String,
    value: String,
    options: Vec<(String, String)>,
    onchange: EventHandler<String>,
) -> Element {
    rsx! {
        div { class: "flex flex-col gap-1",
            label { r#for: "{id}", class: "label", "{label}" }
            select {
                id: "{id}",
                class: "input h-9 py-1 pr-8",
                onchange: move |e| onchange.call(e.value()),
                for (v, text) in options {
                    option { value: "{v}", selected: v == value, "{text}" }
                }
            }
        }
    }
}

/// Previous and next buttons with "Page X of Y", shown when a list has more than one page.
#[component]
pub fn Pager(
    /// The page shown.
    current: u32,
    /// How many pages the list has.
    total_pages: u64,
    /// The page to show; the buttons change it.
    page: Signal<u32>,
    #[props(default)] busy: bool,
    #[props(default)] class: String,
) -> Element {
    if total_pages <= 1 {
        return rsx! {};
    }
    rsx! {
        nav { aria_label: "Pages", class: "flex items-center justify-between text-sm {class}",
            button {
                r#type: "button",
                class: "btn-secondary",
                disabled: current <= 1 || busy,
                onclick: move |_| page.set(page().saturating_sub(1).max(1)),
                "Previous page"
            }
            span { class: "text-zinc-600 dark:text-zinc-400", "Page {current} of {total_pages}" }
            button {
                r#type: "button",
                class: "btn-secondary",
                disabled: u64::from(current) >= total_pages || busy,
                onclick: move |_| page.set(page() + 1),
                "Next page"
            }
        }
    }
}
