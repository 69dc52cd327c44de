use super::*;
use crate::domain::{ServiceCode, UserStatus};
use crate::store::conformance::{self, utc};
use chrono::{Duration, SecondsFormat, TimeZone};
use chrono_tz::America::New_York;
use rusqlite::params;

/// The first migration that stores times as UTC text.
const UTC_TIMES: i64 = 20261130000012;

fn url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("store.db").display())
}

async fn new_store(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&url(dir)).await.unwrap()
}

#[tokio::test]
async fn times_written_by_the_previous_binary_read_back_as_utc_instants() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let mut conn = Connection::open(&path).unwrap();
        migrate::run(
            &mut conn,
            migrate::MIGRATOR.iter().filter(|m| m.version < UTC_TIMES),
        )
        .unwrap();
        // As the previous binary wrote them: runs and claims with the zone's RFC 3339 (one in
        // daylight time, one in standard time), heartbeats in Unix seconds, due_at whole UTC
        // seconds, the audit log and decisions in whole local seconds, the outbox `%.6fZ`.
        let started = New_York.with_ymd_and_hms(2026, 10, 1, 6, 0, 0).unwrap()
            + Duration::microseconds(250_500);
        let finished = New_York.with_ymd_and_hms(2026, 11, 2, 6, 5, 0).unwrap();
        let heartbeat = utc("2026-10-01T10:00:30Z").timestamp();
        conn.execute(
            "INSERT INTO runs (id, as_of, cadence, org_ids, scope_key, started_at, finished_at, \
             status, error, out_dir, counts, owner, heartbeat_at, out_root) \
             VALUES ('20261001-001', '2026-10-01', 'quarterly', '', 'all', ?1, ?2, 'completed', \
             NULL, '/out/20261001-001', ?3, 'host:1:a', ?4, '/out')",
            params![
                started.to_rfc3339(),
                finished.to_rfc3339(),
                serde_json::to_string(&RunCounts::default()).unwrap(),
                heartbeat
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO findings (run_id, fingerprint, rule, severity, status, org_id, pidsl, \
             username, user_name, detail, first_seen) VALUES ('20261001-001', 'fp1', \
             'missing-backup', 'high', 'new', 'ORG1', '110012345A', '', '', 'd', '2026-10-01')",
            [],
        )
        .unwrap();
        let due = New_York.with_ymd_and_hms(2026, 10, 1, 6, 0, 0).unwrap();
        conn.execute(
            "INSERT INTO schedule_claims (period_key, cadence, due_at, state, owner, run_id, \
             attempts, claimed_at, heartbeat_at, finished_at, error) \
             VALUES ('quarterly:2026-Q4', 'quarterly', ?1, 'completed', 'host:1:a', \
             '20261001-001', 1, ?2, ?3, ?4, NULL)",
            params![
                due.with_timezone(&Utc)
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
                started.to_rfc3339(),
                heartbeat,
                finished.to_rfc3339(),
            ],
        )
        .unwrap();
        let decided = New_York.with_ymd_and_hms(2026, 11, 5, 9, 15, 0).unwrap();
        conn.execute(
            "INSERT INTO audit_log (at, actor, action, username, username_key, pidsl, \
             services_before, services_after, detail, ran_as) \
             VALUES (?1, 'alice', 'grant', 'Bob', 'bob', '110012345A', '', 'PORTAL', '', 'u@h')",
            params![decided.to_rfc3339_opts(SecondsFormat::Secs, false)],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO decisions (run_id, fingerprint, decision, justification, reviewer, \
             decided_at, accepted_until) \
             VALUES ('20261001-001', 'fp1', 'Keep', 'needed', 'alice', ?1, NULL)",
            params![decided.to_rfc3339_opts(SecondsFormat::Secs, false)],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO outbox (idempotency_key, run_id, kind, recipient, to_addresses, \
             subject, state, attempts, next_attempt_at, sent_at, created_at) \
             VALUES ('k1', '20261001-001', 'org', 'ORG1', 'a@example.org', 's', 'sent', 1, ?1, \
             ?2, ?1)",
            params![
                utc("2026-10-01T10:06:00Z")
                    .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string(),
                utc("2026-10-01T10:07:00.123456Z")
                    .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string(),
            ],
        )
        .unwrap();
    }

    let store = SqliteStore::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();

    let run = store.run("20261001-001").await.unwrap().unwrap();
    assert_eq!(run.started_at, utc("2026-10-01T10:00:00.250500Z"));
    assert_eq!(run.finished_at, Some(utc("2026-11-02T11:05:00Z")));
    let held = store.held_runs().await.unwrap();
    assert_eq!(held[0].heartbeat_at, Some(utc("2026-10-01T10:00:30Z")));

    let claim = store.claim("quarterly:2026-Q4").await.unwrap().unwrap();
    assert_eq!(claim.due_at, utc("2026-10-01T10:00:00Z"));
    assert_eq!(claim.claimed_at, utc("2026-10-01T10:00:00.250500Z"));
    assert_eq!(claim.heartbeat_at, utc("2026-10-01T10:00:30Z"));
    assert_eq!(claim.finished_at, Some(utc("2026-11-02T11:05:00Z")));

    let events = store.audit_events(Some("BOB")).await.unwrap();
    assert_eq!(events[0].at, utc("2026-11-05T14:15:00Z"));
    assert_eq!(
        events[0].services_after,
        Services::of(&[ServiceCode::Portal])
    );

    let decisions = store.decisions(None).await.unwrap();
    assert_eq!(decisions[0].decided_at, utc("2026-11-05T14:15:00Z"));

    let outbox = store.outbox(None).await.unwrap();
    assert_eq!(outbox[0].next_attempt_at, utc("2026-10-01T10:06:00Z"));
    assert_eq!(outbox[0].sent_at, Some(utc("2026-10-01T10:07:00.123456Z")));

    // Every converted time is the one fixed-width format, and INTEGER columns are gone.
    let conn = Connection::open(&path).unwrap();
    let texts: Vec<String> = conn
        .prepare(
            "SELECT started_at FROM runs UNION ALL SELECT finished_at FROM runs \
             UNION ALL SELECT heartbeat_at FROM runs UNION ALL SELECT due_at FROM schedule_claims \
             UNION ALL SELECT heartbeat_at FROM schedule_claims UNION ALL SELECT at FROM audit_log \
             UNION ALL SELECT decided_at FROM decisions",
        )
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for text in texts {
        assert_eq!(text.len(), 27, "{text}");
        assert!(text.ends_with('Z'), "{text}");
    }
    let integer_times: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('schedule_claims') WHERE type = 'INTEGER' \
             AND name LIKE '%_at'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(integer_times, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_schedulers_claiming_one_period_exactly_one_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    conformance::a_period_is_claimed_once(&store, &store).await;
}

fn pidsl() -> PidSl {
    PidSl::parse("110012345A").unwrap()
}

fn user(id: i64, username: &str) -> UserRow {
    UserRow {
        id,
        username: username.to_string(),
        first_name: "Ann".into(),
        last_name: "Lee".into(),
        middle_initial: String::new(),
        phone: "617-555-0100".into(),
        email: format!("{}@example.org", username.to_lowercase()),
        org_id: "ORG1".into(),
        job_role: String::new(),
        status: UserStatus::Active,
        created_on: NaiveDate::from_ymd_opt(2025, 1, 2),
        last_login_at: Some("2026-09-30T08:00:00-04:00".into()),
        terms_accepted_on: None,
        terminated_on: None,
        dob_mmdd: Some(crate::snapshot::Personal::new("0101".into())),
        ssn_last4: None,
    }
}

/// One organization with one PID/SL, through the import's writer.
async fn import_one_org(store: &SqliteStore, users: Vec<UserRow>, access: Vec<AccessRow>) {
    let mut writer = store
        .import_writer(tokio::runtime::Handle::current(), true, chrono::Utc::now())
        .unwrap();
    tokio::task::spawn_blocking(move || {
        writer.write_orgs(&[OrgRow {
            org_id: "ORG1".into(),
            name: "Clinic".into(),
            kind: OrgKind::Provider,
            cadence: Cadence::Quarterly,
            management_emails: vec!["boss@example.org".into(), "it@example.org".into()],
            last_review_on: NaiveDate::from_ymd_opt(2026, 7, 1),
        }])?;
        writer.write_pidsls(&[PidSlRow {
            pidsl: pidsl(),
            org_id: "ORG1".into(),
            name: "Main".into(),
            provider_type: "clinic".into(),
            active: true,
        }])?;
        writer.write_users(&users)?;
        writer.write_access(&access)?;
        writer.commit()
    })
    .await
    .unwrap()
    .unwrap();
}

#[tokio::test]
async fn an_import_reads_back_as_the_same_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    let grant = AccessRow {
        user_id: 7,
        pidsl: pidsl(),
        role: Role::Primary,
        services: Services::of(&[ServiceCode::PrimaryUser, ServiceCode::Portal]),
        granted_on: NaiveDate::from_ymd_opt(2026, 1, 5),
        expires_on: None,
    };
    import_one_org(
        &store,
        vec![user(7, "AnnLee"), user(9, "bo")],
        vec![grant.clone()],
    )
    .await;

    let snapshot = store.load_snapshot(New_York).await.unwrap();
    assert_eq!(
        (
            snapshot.orgs.len(),
            snapshot.pidsls.len(),
            snapshot.users.len(),
            snapshot.access.len()
        ),
        (1, 1, 2, 1)
    );
    let org = &snapshot.orgs[0];
    assert_eq!(
        org.management_emails,
        ["boss@example.org", "it@example.org"]
    );
    assert_eq!(org.last_review_on, NaiveDate::from_ymd_opt(2026, 7, 1));
    let ann = &snapshot.users[0];
    assert_eq!(ann.username, "AnnLee");
    assert_eq!(ann.created_on, NaiveDate::from_ymd_opt(2025, 1, 2));
    assert_eq!(ann.last_login_on, NaiveDate::from_ymd_opt(2026, 9, 30));
    assert_eq!(ann.dob_mmdd.as_ref().map(|p| p.expose()), Some("0101"));
    assert_eq!(ann.job_role, None);
    let access = &snapshot.access[0];
    assert_eq!(
        (access.user, access.pidsl, access.role),
        (0, 0, Role::Primary)
    );
    assert_eq!(access.services, grant.services);
    assert_eq!(access.granted_on, NaiveDate::from_ymd_opt(2026, 1, 5));
    assert_eq!(snapshot.last_run_on, [None]);

    let known = store.known_accounts().await.unwrap();
    assert_eq!(known.users.get("annlee"), Some(&7));
    assert_eq!(known.max_user_id, 9);
    assert_eq!(
        store.account_counts().await.unwrap(),
        AccountCounts {
            organizations: 1,
            pidsls: 1,
            users: 2,
            access: 1
        }
    );
}

#[tokio::test]
async fn a_message_is_claimed_by_one_sender_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    conformance::a_message_is_claimed_once(&store, dir.path()).await;
}

#[tokio::test]
async fn a_write_transaction_dropped_without_commit_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    import_one_org(&store, vec![], vec![]).await;
    let event = AuditEvent {
        id: 0,
        at: utc("2026-10-01T10:00:00Z"),
        actor: "alice".into(),
        ran_as: String::new(),
        action: "create".into(),
        username: "NewUser".into(),
        pidsl: String::new(),
        services_before: Services::EMPTY,
        services_after: Services::EMPTY,
        detail: String::new(),
    };
    {
        let mut tx = store.begin_write().await.unwrap();
        let id = tx.next_user_id().await.unwrap();
        tx.insert_user(&user(id, "NewUser")).await.unwrap();
        tx.record_audit(&event).await.unwrap();
        assert!(tx.user_by_name("newuser").await.unwrap().is_some());
    }
    assert_eq!(store.account_counts().await.unwrap().users, 0);
    assert!(store.audit_events(None).await.unwrap().is_empty());

    // The lock is released: the next operation writes and commits.
    let mut tx = store.begin_write().await.unwrap();
    tx.insert_user(&user(1, "NewUser")).await.unwrap();
    tx.record_audit(&event).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.account_counts().await.unwrap().users, 1);
    let events = store.audit_events(Some("newuser")).await.unwrap();
    assert_eq!(events[0].at, event.at);
    assert!(!events[0].ran_as.is_empty());
}

#[tokio::test]
async fn a_store_whose_applied_migration_changed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(new_store(&dir).await);
    let conn = Connection::open(dir.path().join("store.db")).unwrap();
    conn.execute(
        "UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = ?1",
        [UTC_TIMES],
    )
    .unwrap();
    let error = SqliteStore::open(&url(&dir)).await.err().unwrap();
    assert!(
        format!("{error:#}").contains("migration 20261130000012 (utc times) was applied"),
        "{error:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_knows_its_identity_and_last_import() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    conformance::the_store_knows_its_identity_and_last_import(&store).await;
}

#[tokio::test]
async fn two_stores_have_different_identities() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (first, second) = (new_store(&a).await, new_store(&b).await);
    conformance::two_stores_have_different_identities(&first, &second).await;
}

#[tokio::test]
async fn run_ids_skip_to_the_first_free_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    conformance::run_ids_skip_to_the_first_free_sequence(&store).await;
}

#[tokio::test]
async fn the_outbox_says_when_mail_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    conformance::the_outbox_says_when_mail_is_due(&store, dir.path()).await;
}

#[tokio::test]
async fn each_mail_problem_is_alerted_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    conformance::each_mail_problem_is_alerted_once(&store, dir.path()).await;
}

#[tokio::test]
async fn a_stale_claim_of_a_completed_run_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    conformance::a_stale_claim_of_a_completed_run_is_closed(&store).await;
}

/// The operations migration on a store written before it: the store gets an identity, and
/// its queued mail is not alerted yet.
#[tokio::test]
async fn a_store_from_before_operations_gets_an_identity() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut conn = Connection::open(dir.path().join("store.db")).unwrap();
        migrate::run(
            &mut conn,
            migrate::MIGRATOR
                .iter()
                .filter(|m| m.version < 20261201000013),
        )
        .unwrap();
        conn.execute(
            "INSERT INTO outbox (idempotency_key, run_id, kind, recipient, to_addresses, \
             subject, state, attempts, next_attempt_at, created_at) VALUES ('k1', \
             '20261001-001', 'org', 'ORG1', 'a@example.org', 'Review', 'failed', 3, \
             '2026-10-01T10:00:00.000000Z', '2026-10-01T09:00:00.000000Z')",
            [],
        )
        .unwrap();
    }
    let store = new_store(&dir).await;
    let info = store.store_info().await.unwrap();
    assert_eq!(info.store_id.len(), 16, "{info:?}");
    assert_eq!(info.last_import_at, None);
    let problems = store
        .unalerted_mail(utc("2026-10-01T09:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].problem, crate::domain::MailAlert::Failed);
}

#[tokio::test]
async fn trends_count_open_findings_of_the_last_reviews() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    conformance::trends_count_open_findings_of_the_last_reviews(&store).await;
}

#[tokio::test]
async fn trends_of_twenty_thousand_organizations_are_one_query_each() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    let (orgs, scope) = conformance::trends_of_twenty_thousand_organizations(&store).await;
    eprintln!(
        "SQLite, 20,000 organizations x 8 reviews: org_trends {orgs:?}, scope_trend {scope:?}"
    );
}

/// The trends migration on a store written before it: each reviewed organization of each run
/// gets its open findings (new and open, not accepted) from the findings table, zeros when it
/// had none, so the first trend after the upgrade already has its history.
#[tokio::test]
async fn a_store_from_before_trends_gets_its_history_counted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut conn = Connection::open(dir.path().join("store.db")).unwrap();
        migrate::run(
            &mut conn,
            migrate::MIGRATOR
                .iter()
                .filter(|m| m.version < 20261202000014),
        )
        .unwrap();
        conn.execute_batch(conformance::BEFORE_TRENDS).unwrap();
    }
    let store = new_store(&dir).await;
    conformance::history_from_before_trends_is_counted(&store).await;
}

#[tokio::test]
async fn previous_org_findings_are_each_organizations_last_review() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    conformance::previous_org_findings_are_each_organizations_last_review(&store).await;
}

#[tokio::test]
async fn previous_findings_of_twenty_thousand_organizations_are_one_query() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    let took = conformance::previous_findings_of_twenty_thousand_organizations(&store).await;
    eprintln!("SQLite, previous_org_findings of 20,000 organizations: {took:?}");
}

#[tokio::test]
async fn follow_ups_are_read_by_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    conformance::follow_ups_are_read_by_run(&store, dir.path()).await;
}

/// The status migration on history the previous binary wrote (each run compared with the last
/// of its own scope): statuses, first_seen and the runs' counts per organization.
#[tokio::test]
async fn a_store_from_before_status_per_org_gets_its_history_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut conn = Connection::open(dir.path().join("store.db")).unwrap();
        migrate::run(
            &mut conn,
            migrate::MIGRATOR
                .iter()
                .filter(|m| m.version < 20261205000017),
        )
        .unwrap();
        conn.execute_batch(conformance::BEFORE_STATUS_PER_ORG)
            .unwrap();
    }
    let store = new_store(&dir).await;
    conformance::history_from_before_status_per_org_is_recomputed(&store).await;
}

#[tokio::test]
async fn follow_ups_are_queued_once_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir).await;
    conformance::follow_ups_are_queued_once_per_key(&store, dir.path()).await;
}
