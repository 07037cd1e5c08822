use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use super::helpers::*;

async fn list(app: &TestApp, token: Option<&str>, query: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.client.get(app.url("/users")).query(query);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

fn emails(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["email"].as_str().unwrap().to_owned())
        .collect()
}

/// Makes `n` profiles, oldest first, through their owners' first reads.
async fn people(app: &TestApp, n: usize) -> Vec<Caller> {
    let mut out = Vec::new();
    for i in 0..n {
        let who = user(app, &format!("p{i}@example.com"));
        own_profile(app, &who).await;
        out.push(who);
    }
    out
}

#[tokio::test]
async fn only_admins_list_users() {
    let app = app().await;
    let ada = user(&app, "ada@example.com");
    own_profile(&app, &ada).await;
    let body = problem(list(&app, Some(&ada.token), &[]).await, 403).await;
    assert_eq!(body["type"], "urn:tessera:problem:forbidden");
    // The role check comes first: a user learns nothing from bad parameters either.
    problem(list(&app, Some(&ada.token), &[("page", "0")]).await, 403).await;
    let res = list(&app, None, &[]).await;
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    problem(res, 401).await;

    let boss = admin(&app, "boss@example.com");
    let page = ok(list(&app, Some(&boss.token), &[]).await).await;
    assert_eq!(emails(&page), ["ada@example.com"]);
    assert_profile_shape(&page["data"][0]);
    app.shutdown().await;
}

#[tokio::test]
async fn pages_run_newest_first_with_totals_and_end_empty() {
    let app = app().await;
    people(&app, 5).await;
    let boss = admin(&app, "boss@example.com");
    let token = Some(boss.token.as_str());

    let all = ok(list(&app, token, &[]).await).await;
    assert_eq!(
        emails(&all),
        [
            "p4@example.com",
            "p3@example.com",
            "p2@example.com",
            "p1@example.com",
            "p0@example.com"
        ]
    );
    assert_eq!(
        all["meta"],
        json!({"page": 1, "limit": 10, "total": 5, "totalPages": 1})
    );
    assert_eq!(all.as_object().unwrap().len(), 2, "data and meta only");

    let first = ok(list(&app, token, &[("limit", "2")]).await).await;
    assert_eq!(emails(&first), ["p4@example.com", "p3@example.com"]);
    assert_eq!(
        first["meta"],
        json!({"page": 1, "limit": 2, "total": 5, "totalPages": 3})
    );
    let last = ok(list(&app, token, &[("limit", "2"), ("page", "3")]).await).await;
    assert_eq!(emails(&last), ["p0@example.com"]);

    let one = ok(list(&app, token, &[("limit", "1"), ("page", "2")]).await).await;
    assert_eq!(emails(&one), ["p3@example.com"]);
    assert_eq!(one["meta"]["totalPages"], 5);

    let past = ok(list(&app, token, &[("limit", "2"), ("page", "4")]).await).await;
    assert_eq!(past["data"], json!([]));
    assert_eq!(
        past["meta"],
        json!({"page": 4, "limit": 2, "total": 5, "totalPages": 3})
    );
    let far = ok(list(&app, token, &[("page", "4000000000")]).await).await;
    assert_eq!(far["data"], json!([]));

    let max = ok(list(&app, token, &[("limit", "100"), ("page", "1")]).await).await;
    assert_eq!(max["meta"]["limit"], 100);
    assert_eq!(emails(&max).len(), 5);
    app.shutdown().await;
}

#[tokio::test]
async fn q_finds_names_and_emails_case_insensitively_and_literally() {
    let app = app().await;
    let boss = admin(&app, "boss@example.com");
    let named = [
        ("ada@example.com", Some("Ada Lovelace")),
        ("grace@navy.example", Some("Grace Hopper")),
        ("Lovebird@Example.org", None),
        ("pct@example.com", Some("100% Real")),
        ("under_score@example.com", Some("Plain")),
    ];
    for (email, name) in named {
        let who = user(&app, email);
        own_profile(&app, &who).await;
        if let Some(name) = name {
            ok(patch(&app, &path(who.id), &who.token, json!({"name": name})).await).await;
        }
    }
    let search = |q: &'static str| {
        let app = &app;
        let token = boss.token.clone();
        async move { ok(list(app, Some(&token), &[("q", q)]).await).await }
    };

    let love = search("love").await;
    assert_eq!(emails(&love), ["Lovebird@Example.org", "ada@example.com"]);
    assert_eq!(love["meta"]["total"], 2);
    assert_eq!(emails(&search("LOVELACE").await), ["ada@example.com"]);
    assert_eq!(emails(&search("NAVY.EX").await), ["grace@navy.example"]);
    assert_eq!(emails(&search("  hopper  ").await), ["grace@navy.example"]);
    assert_eq!(
        emails(&search("%").await),
        ["pct@example.com"],
        "% is literal"
    );
    assert_eq!(emails(&search("0%").await), ["pct@example.com"]);
    assert_eq!(
        emails(&search("_").await),
        ["under_score@example.com"],
        "_ is literal"
    );
    assert_eq!(emails(&search("\\").await), Vec::<String>::new());
    let none = search("zzz").await;
    assert_eq!(
        none,
        json!({"data": [], "meta": {"page": 1, "limit": 10, "total": 0, "totalPages": 0}})
    );

    // q combines with paging.
    let paged = ok(list(&app, Some(&boss.token), &[("q", "EXAMPLE"), ("limit", "2")]).await).await;
    assert_eq!(paged["meta"]["total"], 5);
    assert_eq!(paged["meta"]["totalPages"], 3);
    app.shutdown().await;
}

/// Query parameters in the order they are sent.
type Query<'a> = Vec<(&'a str, &'a str)>;

#[tokio::test]
async fn bad_parameters_are_400s_naming_them() {
    let app = app().await;
    let boss = admin(&app, "boss@example.com");
    let long = "q".repeat(101);
    let cases: [(Query, Vec<&str>); 15] = [
        (vec![("page", "0")], vec!["page"]),
        (vec![("page", "-1")], vec!["page"]),
        (vec![("page", "abc")], vec!["page"]),
        (vec![("page", "")], vec!["page"]),
        (vec![("page", "99999999999")], vec!["page"]),
        (vec![("limit", "0")], vec!["limit"]),
        (vec![("limit", "101")], vec!["limit"]),
        (vec![("limit", "1.5")], vec!["limit"]),
        (vec![("q", "")], vec!["q"]),
        (vec![("q", "   ")], vec!["q"]),
        (vec![("q", &long)], vec!["q"]),
        (vec![("sort", "name")], vec!["sort"]),
        (vec![("Page", "1")], vec!["Page"]),
        (vec![("page", "1"), ("page", "2")], vec!["page"]),
        (
            vec![("page", "0"), ("limit", "0"), ("q", "")],
            vec!["page", "limit", "q"],
        ),
    ];
    for (query, expected) in cases {
        let res = list(&app, Some(&boss.token), &query).await;
        let body = problem(res, 400).await;
        assert_eq!(body["type"], "urn:tessera:problem:validation");
        assert_eq!(fields(&body), expected, "{query:?} -> {body}");
    }
    app.shutdown().await;
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

async fn plan(conn: &mut diesel_async::AsyncPgConnection, query: &str) -> String {
    diesel::sql_query(format!("EXPLAIN {query}"))
        .load::<PlanLine>(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_search_and_the_order_are_index_backed() {
    let app = app().await;
    let pool = app.pool("user");
    let mut conn = pool.get().await.unwrap();
    // Enough rows, with statistics, for the planner to prefer an index where one fits.
    diesel::sql_query(
        "INSERT INTO profiles (id, user_id, email, name, role, created_at) \
         SELECT gen_random_uuid(), gen_random_uuid(), 'user' || i || '@example.com', \
                'Name ' || i, 'USER', now() - i * interval '1 second' \
         FROM generate_series(1, 5000) AS i",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    // VACUUM too: GIN indexes get the statistics the planner costs them by only from it.
    diesel::sql_query("VACUUM ANALYZE profiles")
        .execute(&mut conn)
        .await
        .unwrap();
    let search = plan(
        &mut conn,
        "SELECT id FROM profiles WHERE deleted_at IS NULL \
         AND (lower(name) LIKE lower('%ada%') OR lower(email) LIKE lower('%ada%'))",
    )
    .await;
    assert!(search.contains("profiles_name_trgm_idx"), "{search}");
    assert!(search.contains("profiles_email_trgm_idx"), "{search}");
    let order = plan(
        &mut conn,
        "SELECT id FROM profiles WHERE deleted_at IS NULL \
         ORDER BY created_at DESC, id DESC LIMIT 10 OFFSET 20",
    )
    .await;
    assert!(order.contains("profiles_live_created_idx"), "{order}");
    assert!(!order.contains("Sort"), "no sort step: {order}");
    app.shutdown().await;
}
