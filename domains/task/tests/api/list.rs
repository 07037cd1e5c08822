use serde_json::json;

use super::helpers::*;

/// Sets `created_at` of the task titled `title` of `who`, so orders do not depend on timing.
async fn set_created(app: &TestApp, who: &User, title: &str, at: &str) {
    let n = execute(
        app,
        &format!(
            "UPDATE tasks SET created_at = '{at}' WHERE user_id = '{}' AND title = '{title}'",
            who.id
        ),
    )
    .await;
    assert_eq!(n, 1, "{title}");
}

#[tokio::test]
async fn the_list_holds_only_the_callers_tasks_newest_first_with_meta() {
    let app = app().await;
    let ada = user(&app);
    let bob = user(&app);
    for title in ["a1", "a2", "a3"] {
        create_titled(&app, &ada, title).await;
    }
    create_titled(&app, &bob, "b1").await;
    set_created(&app, &ada, "a1", "2026-01-01T00:00:00Z").await;
    set_created(&app, &ada, "a2", "2026-01-03T00:00:00Z").await;
    set_created(&app, &ada, "a3", "2026-01-02T00:00:00Z").await;

    let page = list(&app, &ada, "/tasks").await;
    assert_eq!(titles(&page), ["a2", "a3", "a1"]);
    assert_eq!(
        page["meta"],
        json!({"page": 1, "limit": 10, "total": 3, "totalPages": 1})
    );
    assert!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["userId"] == ada.id.to_string())
    );
    let page = list(&app, &bob, "/tasks").await;
    assert_eq!(titles(&page), ["b1"]);

    let nobody = user(&app);
    let page = list(&app, &nobody, "/tasks").await;
    assert_eq!(
        page,
        json!({"data": [], "meta": {"page": 1, "limit": 10, "total": 0, "totalPages": 0}})
    );
    app.shutdown().await;
}

#[tokio::test]
async fn each_filter_narrows_the_list_and_the_total() {
    let app = app().await;
    let ada = user(&app);
    let bob = user(&app);
    let low = create(&app, &ada, json!({"title": "low", "priority": "LOW"})).await;
    let high = create(&app, &ada, json!({"title": "high", "priority": "HIGH"})).await;
    create(&app, &ada, json!({"title": "urgent", "priority": "URGENT"})).await;
    create(&app, &bob, json!({"title": "bob high", "priority": "HIGH"})).await;
    update(&app, &ada, &low["id"], json!({"status": "COMPLETED"})).await;
    update(&app, &ada, &high["id"], json!({"status": "IN_PROGRESS"})).await;

    let page = list(&app, &ada, "/tasks?status=COMPLETED").await;
    assert_eq!(titles(&page), ["low"]);
    assert_eq!(page["meta"]["total"], 1);
    let page = list(&app, &ada, "/tasks?status=IN_PROGRESS").await;
    assert_eq!(titles(&page), ["high"]);
    let page = list(&app, &ada, "/tasks?status=PENDING").await;
    assert_eq!(titles(&page), ["urgent"]);
    let page = list(&app, &ada, "/tasks?status=CANCELLED").await;
    assert_eq!(page["meta"]["total"], 0);

    let page = list(&app, &ada, "/tasks?priority=HIGH").await;
    assert_eq!(titles(&page), ["high"], "bob's HIGH task is not listed");
    let page = list(&app, &ada, "/tasks?priority=URGENT&status=PENDING").await;
    assert_eq!(titles(&page), ["urgent"]);
    let page = list(&app, &ada, "/tasks?priority=URGENT&status=COMPLETED").await;
    assert_eq!(page["meta"]["total"], 0);
    app.shutdown().await;
}

#[tokio::test]
async fn q_searches_title_and_description_case_insensitively_and_literally() {
    let app = app().await;
    let ada = user(&app);
    let bob = user(&app);
    create(&app, &ada, json!({"title": "Quarterly REPORT"})).await;
    create(
        &app,
        &ada,
        json!({"title": "Groceries", "description": "milk, Eggs, report card"}),
    )
    .await;
    create(&app, &ada, json!({"title": "50% off sale"})).await;
    create(&app, &ada, json!({"title": "500 offers"})).await;
    create(&app, &ada, json!({"title": "snake_case"})).await;
    create(&app, &ada, json!({"title": "snakeXcase"})).await;
    create(&app, &ada, json!({"title": r"back\slash"})).await;
    create(&app, &bob, json!({"title": "bob's report"})).await;

    let search = |q: &str| format!("/tasks?q={}", urlencode(q));
    let mut found = titles(&list(&app, &ada, &search("report")).await);
    found.sort();
    assert_eq!(found, ["Groceries", "Quarterly REPORT"]);
    assert_eq!(
        titles(&list(&app, &ada, &search("eGGs")).await),
        ["Groceries"]
    );
    assert_eq!(
        titles(&list(&app, &ada, &search("LY rep")).await),
        ["Quarterly REPORT"]
    );
    assert_eq!(
        titles(&list(&app, &ada, &search("50%")).await),
        ["50% off sale"]
    );
    assert_eq!(
        titles(&list(&app, &ada, &search("e_c")).await),
        ["snake_case"]
    );
    assert_eq!(
        titles(&list(&app, &ada, &search("k\\s")).await),
        [r"back\slash"]
    );
    assert!(titles(&list(&app, &ada, &search("%")).await) == ["50% off sale"]);
    // The same with terms long enough for the trigram index (LIKE with an escaped pattern).
    assert_eq!(
        titles(&list(&app, &ada, &search("50% OFF")).await),
        ["50% off sale"]
    );
    assert_eq!(
        titles(&list(&app, &ada, &search("snake_c")).await),
        ["snake_case"]
    );
    assert_eq!(
        titles(&list(&app, &ada, &search("back\\sla")).await),
        [r"back\slash"]
    );
    assert!(titles(&list(&app, &ada, &search("nothing like it")).await).is_empty());
    let page = list(&app, &ada, &format!("{}&status=PENDING", search("report"))).await;
    assert_eq!(page["meta"]["total"], 2);
    // A blank q does not filter.
    assert_eq!(list(&app, &ada, "/tasks?q=%20").await["meta"]["total"], 7);
    app.shutdown().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn each_sort_orders_the_list_with_the_id_as_the_last_tie_breaker() {
    let app = app().await;
    let ada = user(&app);
    // title, priority, due date, created at
    let rows = [
        (
            "t1",
            "HIGH",
            Some("2026-03-01T00:00:00Z"),
            "2026-01-01T00:00:00Z",
        ),
        ("t2", "LOW", None, "2026-01-02T00:00:00Z"),
        (
            "t3",
            "URGENT",
            Some("2026-02-01T00:00:00Z"),
            "2026-01-03T00:00:00Z",
        ),
        (
            "t4",
            "MEDIUM",
            Some("2026-04-01T00:00:00Z"),
            "2026-01-04T00:00:00Z",
        ),
        ("t5", "HIGH", None, "2026-01-05T00:00:00Z"),
        (
            "t6",
            "LOW",
            Some("2026-02-01T00:00:00Z"),
            "2026-01-06T00:00:00Z",
        ),
    ];
    let mut ids = std::collections::HashMap::new();
    for (title, priority, due, created) in rows {
        let task = create(
            &app,
            &ada,
            json!({"title": title, "priority": priority, "dueDate": due}),
        )
        .await;
        ids.insert(title, task["id"].as_str().unwrap().to_owned());
        set_created(&app, &ada, title, created).await;
    }
    // Ties in due date (t3/t6) and no due date (t2/t5) fall back to the id.
    let by_id = |a: &'static str, b: &'static str| {
        if ids[a] < ids[b] { [a, b] } else { [b, a] }
    };
    let [due_first, due_second] = by_id("t3", "t6");
    let [none_first, none_second] = by_id("t2", "t5");

    let sorted = |sort: &str| {
        let path = format!("/tasks?sort={}", urlencode(sort));
        let app = &app;
        let ada = &ada;
        async move { titles(&list(app, ada, &path).await) }
    };
    assert_eq!(
        sorted("-createdAt").await,
        ["t6", "t5", "t4", "t3", "t2", "t1"]
    );
    assert_eq!(
        sorted("createdAt").await,
        ["t1", "t2", "t3", "t4", "t5", "t6"]
    );
    assert_eq!(
        sorted("dueDate").await,
        [due_first, due_second, "t1", "t4", none_first, none_second],
        "soonest first, no due date last"
    );
    assert_eq!(
        sorted("-dueDate").await,
        ["t4", "t1", due_second, due_first, none_second, none_first],
        "latest first, no due date still last"
    );
    assert_eq!(
        sorted("priority").await,
        ["t2", "t6", "t4", "t1", "t5", "t3"],
        "LOW < MEDIUM < HIGH < URGENT, then oldest first"
    );
    assert_eq!(
        sorted("-priority").await,
        ["t3", "t5", "t1", "t4", "t6", "t2"],
        "URGENT first, then newest first"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn pages_are_stable_and_a_page_past_the_end_is_empty() {
    let app = app().await;
    let ada = user(&app);
    for i in 0..25 {
        create_titled(&app, &ada, &format!("task {i:02}")).await;
    }
    // Every task shares one creation time: only the id orders them.
    execute(&app, "UPDATE tasks SET created_at = '2026-01-01T00:00:00Z'").await;

    let mut seen = Vec::new();
    for page in 1..=3 {
        let body = list(&app, &ada, &format!("/tasks?page={page}&limit=10")).await;
        let expected_len = if page == 3 { 5 } else { 10 };
        assert_eq!(body["data"].as_array().unwrap().len(), expected_len);
        assert_eq!(
            body["meta"],
            json!({"page": page, "limit": 10, "total": 25, "totalPages": 3})
        );
        seen.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned()),
        );
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 25, "no task twice, none missing");
    let mut descending = seen.clone();
    descending.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, descending, "ties broken by id, descending");

    let past = list(&app, &ada, "/tasks?page=4&limit=10").await;
    assert_eq!(past["data"], json!([]));
    assert_eq!(
        past["meta"],
        json!({"page": 4, "limit": 10, "total": 25, "totalPages": 3})
    );
    let one = list(&app, &ada, "/tasks?limit=1").await;
    assert_eq!(one["meta"]["totalPages"], 25);
    let all = list(&app, &ada, "/tasks?limit=100").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 25);
    let far = list(&app, &ada, "/tasks?page=4294967295&limit=100").await;
    assert_eq!(far["data"], json!([]));
    app.shutdown().await;
}

#[tokio::test]
async fn every_bad_or_unknown_parameter_is_a_400_naming_it() {
    let app = app().await;
    let ada = user(&app);
    let long_q = format!("q={}", "x".repeat(201));
    for (query, fields) in [
        ("status=DONE", vec!["status"]),
        ("status=pending", vec!["status"]),
        ("priority=x", vec!["priority"]),
        ("sort=title", vec!["sort"]),
        ("sort=%2BcreatedAt", vec!["sort"]),
        ("page=0", vec!["page"]),
        ("page=-1", vec!["page"]),
        ("page=abc", vec!["page"]),
        ("limit=0", vec!["limit"]),
        ("limit=101", vec!["limit"]),
        (long_q.as_str(), vec!["q"]),
        (
            "status=DONE&priority=x&sort=title&page=0&limit=101",
            vec!["page", "limit", "status", "priority", "sort"],
        ),
    ] {
        let res = send(get(&app, &ada, &format!("/tasks?{query}"))).await;
        let problem = problem(res, 400).await;
        assert_eq!(named_fields(&problem), fields, "{query} -> {problem}");
    }
    let res = send(get(&app, &ada, "/tasks?unknown=1")).await;
    let problem = problem(res, 400).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("unknown"),
        "{problem}"
    );
    app.shutdown().await;
}

/// Every task of `path`'s list, page by page (limit 100).
async fn all_tasks(app: &TestApp, who: &User, path: &str) -> Vec<serde_json::Value> {
    let mut tasks = Vec::new();
    for page in 1.. {
        let body = list(app, who, &format!("{path}&limit=100&page={page}")).await;
        let data = body["data"].as_array().unwrap();
        if data.is_empty() {
            break;
        }
        tasks.extend(data.iter().cloned());
    }
    tasks
}

fn ids(tasks: &[serde_json::Value]) -> Vec<&str> {
    tasks.iter().map(|t| t["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn filtered_lists_keep_the_order_of_the_whole_list_with_many_matches_or_few() {
    let app = app().await;
    let ada = user(&app);
    // 1,010 tasks mention "needle" (more than the few-matches threshold of 1,000), 20 do not;
    // 5 needles are CANCELLED (a filter with few matches). Times and priorities vary.
    execute(
        &app,
        &format!(
            "INSERT INTO tasks (id, user_id, title, status, priority, due_date, created_at)
             SELECT gen_random_uuid(), '{}',
                    CASE WHEN n <= 1010 THEN 'needle ' ELSE 'hay ' END || n,
                    CASE WHEN n % 202 = 0 THEN 'CANCELLED' ELSE 'PENDING' END,
                    (ARRAY['LOW', 'MEDIUM', 'HIGH', 'URGENT'])[1 + n % 4],
                    CASE WHEN n % 3 = 0 THEN NULL
                         ELSE timestamptz '2026-01-01' + (n % 17) * interval '1 day' END,
                    timestamptz '2025-01-01' + (n % 50) * interval '1 hour'
               FROM generate_series(1, 1030) AS g(n)",
            ada.id
        ),
    )
    .await;
    execute(&app, "ANALYZE tasks").await;

    for sort in [
        "-createdAt",
        "createdAt",
        "dueDate",
        "-dueDate",
        "priority",
        "-priority",
    ] {
        let sort_q = urlencode(sort);
        let whole = all_tasks(&app, &ada, &format!("/tasks?sort={sort_q}")).await;
        assert_eq!(whole.len(), 1030, "{sort}");
        let needles: Vec<_> = whole
            .iter()
            .filter(|t| t["title"].as_str().unwrap().starts_with("needle"))
            .cloned()
            .collect();
        let cancelled: Vec<_> = whole
            .iter()
            .filter(|t| t["status"] == "CANCELLED")
            .cloned()
            .collect();

        let many = all_tasks(&app, &ada, &format!("/tasks?q=needle&sort={sort_q}")).await;
        assert_eq!(many.len(), 1010, "{sort}");
        assert_eq!(ids(&many), ids(&needles), "{sort}: many matches");

        let few = all_tasks(
            &app,
            &ada,
            &format!("/tasks?status=CANCELLED&sort={sort_q}"),
        )
        .await;
        assert_eq!(few.len(), 5, "{sort}");
        assert_eq!(ids(&few), ids(&cancelled), "{sort}: few matches");
    }
    app.shutdown().await;
}
