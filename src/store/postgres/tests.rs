//! PgStore against a real server: each test gets a database of its own on TEST_DATABASE_URL's
//! server (dropped afterwards), and is skipped with a notice when that is unset.

use super::*;
use crate::domain::{Cadence, Decision, OrgKind, PidSl, Role, RunStatus, Services, UserStatus};
use crate::snapshot::Personal;
use crate::store::conformance::{self, claim_request, utc};
use chrono::TimeZone;
use sqlx::Connection;
use std::borrow::Cow;

/// A database of its own on TEST_DATABASE_URL's server, dropped with the value.
struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// `None` (with a notice; a failure under CI) when TEST_DATABASE_URL is unset.
    async fn create() -> Option<TestDatabase> {
        let Some(admin_url) = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            let test = std::thread::current()
                .name()
                .unwrap_or("a test")
                .to_string();
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: TEST_DATABASE_URL is unset, and CI must run it"
            );
            eprintln!("SKIPPED in {test}: TEST_DATABASE_URL is unset");
            return None;
        };
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "posc_unit_{}_{}_{}",
            std::process::id(),
            nanos,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("TEST_DATABASE_URL must be reachable");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let base = admin_url.rsplit_once('/').map_or(&*admin_url, |(b, _)| b);
        let url = format!("{base}/{name}");
        Some(TestDatabase {
            admin_url,
            name,
            url,
        })
    }

    async fn open(&self) -> PgStore {
        PgStore::open(&self.url, DEFAULT_CONNECT_TIMEOUT)
            .await
            .unwrap()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // A runtime of its own on a thread of its own: drop may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut admin)
                                .await;
                    }
                })
        })
        .join();
    }
}

#[tokio::test]
async fn a_store_written_before_utc_times_reads_back_the_same_instants() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    // The store as today's binary leaves it: every migration before utc_times.
    let before_utc_times = Migrator {
        migrations: Cow::Owned(
            MIGRATOR
                .iter()
                .filter(|m| m.version < 20261130000012)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    };
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    before_utc_times.run(&mut conn).await.unwrap();
    // Each in the format the old code wrote: local RFC 3339 with its offset (runs, audit log,
    // decisions), Unix seconds (heartbeats), fixed-width UTC text (claims' due_at, outbox).
    sqlx::raw_sql(
        r#"
        INSERT INTO runs (id, as_of, cadence, org_ids, scope_key, started_at, finished_at, status,
                          error, out_dir, counts, owner, heartbeat_at, out_root)
        VALUES ('20261001-001', '2026-10-01', 'quarterly', '', 'all',
                '2026-10-01T06:00:00.123456-04:00', '2026-10-01T06:05:00-04:00', 'completed',
                NULL, '/out/20261001-001', '{"findings":1,"by_severity":{},"by_rule":{},"new":1,"open":0,"accepted":0,"resolved":0}',
                NULL, 1790841600, '/out'),
               ('20261002-001', '2026-10-02', NULL, '', 'all',
                '2026-10-02T08:00:00+02:00', NULL, 'running',
                NULL, NULL, '{"findings":0,"by_severity":{},"by_rule":{},"new":0,"open":0,"accepted":0,"resolved":0}',
                'host:42:review', 1790920800, '/out');
        INSERT INTO findings (run_id, fingerprint, rule, severity, status, org_id, pidsl, username,
                              user_name, detail, first_seen)
        VALUES ('20261001-001', 'fp1', 'missing-backup', 'high', 'new', 'ORG1', '110012345A',
                '', '', 'no backup', '2026-10-01');
        INSERT INTO schedule_claims (period_key, cadence, due_at, state, owner, run_id, attempts,
                                     claimed_at, heartbeat_at, finished_at, error)
        VALUES ('quarterly:2026-Q4', 'quarterly', '2026-10-01T10:00:00Z', 'running', 'host:42:schedule',
                '20261002-001', 1, '2026-10-02T08:00:01+02:00', 1790920860, NULL, NULL);
        INSERT INTO audit_log (at, actor, action, username, username_key, pidsl, services_before,
                               services_after, detail)
        VALUES ('2026-10-02T09:30:00-04:00', 'alice', 'grant', 'Bob', 'bob', '110012345A', '', '', '');
        INSERT INTO decisions (run_id, fingerprint, decision, justification, reviewer, decided_at,
                               accepted_until)
        VALUES ('20261001-001', 'fp1', 'Accept risk', 'known', 'carol', '2026-10-03T14:00:00-04:00',
                '2027-01-01');
        INSERT INTO outbox (idempotency_key, run_id, kind, recipient, to_addresses, subject, state,
                            attempts, last_error, next_attempt_at, claimed_at, sent_at, created_at)
        VALUES ('k-pending', '20261001-001', 'org', 'ORG1', 'a@example.org;b@example.org', 'Review',
                'pending', 0, NULL, '2026-10-01T10:05:00.000000Z', NULL, NULL, '2026-10-01T10:05:00.000000Z'),
               ('k-sent', '20261001-001', 'org', 'ORG2', 'c@example.org', 'Review',
                'sent', 1, NULL, '2026-10-01T10:05:00.000000Z', '2026-10-01T10:06:00.250000Z',
                '2026-10-01T10:06:01.500000Z', '2026-10-01T10:05:00.000001Z');
        INSERT INTO outbox_messages (idempotency_key, message)
        VALUES ('k-pending', 'Subject: Review'), ('k-sent', 'Subject: Review');
        "#,
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = db.open().await;

    let run = store.run("20261001-001").await.unwrap().unwrap();
    assert_eq!(run.started_at, utc("2026-10-01T10:00:00.123456Z"));
    assert_eq!(run.finished_at, Some(utc("2026-10-01T10:05:00Z")));
    assert_eq!(run.cadence, Some(Cadence::Quarterly));
    assert_eq!(run.status, RunStatus::Completed);
    let held = store.held_runs().await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].heartbeat_at, Some(utc("2026-10-02T06:00:00Z")));

    let claim = store.claim("quarterly:2026-Q4").await.unwrap().unwrap();
    assert_eq!(claim.due_at, utc("2026-10-01T10:00:00Z"));
    assert_eq!(claim.claimed_at, utc("2026-10-02T06:00:01Z"));
    assert_eq!(claim.heartbeat_at, utc("2026-10-02T06:01:00Z"));
    assert_eq!(claim.finished_at, None);

    let events = store.audit_events(Some("BOB")).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].at, utc("2026-10-02T13:30:00Z"));

    let decisions = store.decisions(None).await.unwrap();
    assert_eq!(decisions[0].decided_at, utc("2026-10-03T18:00:00Z"));
    assert_eq!(decisions[0].decision, Decision::AcceptRisk);
    let prior = store.latest_decisions("20261002-001").await.unwrap();
    assert_eq!(prior["fp1"].decided_at, utc("2026-10-03T18:00:00Z"));
    assert_eq!(
        prior["fp1"].accepted_until,
        NaiveDate::from_ymd_opt(2027, 1, 1)
    );

    let outbox = store.outbox(None).await.unwrap();
    assert_eq!(outbox[0].next_attempt_at, utc("2026-10-01T10:05:00Z"));
    assert_eq!(outbox[1].sent_at, Some(utc("2026-10-01T10:06:01.5Z")));
    let stale_before = utc("2026-10-01T09:00:00Z");
    assert!(store
        .due_mail(utc("2026-10-01T10:04:59Z"), stale_before, false)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .due_mail(utc("2026-10-01T10:05:00Z"), stale_before, false)
            .await
            .unwrap(),
        vec!["k-pending".to_string()]
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_claiming_one_period_at_once_take_it_once() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    // Two stores, as two scheduler processes have.
    let (first, second) = (db.open().await, db.open().await);
    conformance::a_period_is_claimed_once(&first, &second).await;
    first.close().await;
    second.close().await;
}

const HOSTILE: &str = "Tab\there, back\\slash \\N, new\nline, return\r, José";

fn org(name: &str) -> OrgRow {
    OrgRow {
        org_id: "ORG\t1".into(),
        name: name.into(),
        kind: OrgKind::Provider,
        cadence: Cadence::Annual,
        management_emails: vec!["m@example.org".into(), "n\\@example.org".into()],
        last_review_on: NaiveDate::from_ymd_opt(2026, 1, 31),
    }
}

fn user(first_name: &str) -> UserRow {
    UserRow {
        id: 7,
        username: "O\\Brien".into(),
        first_name: first_name.into(),
        last_name: "Smith\r\n".into(),
        middle_initial: String::new(),
        phone: "\\N".into(),
        email: "o@example.org".into(),
        org_id: "ORG\t1".into(),
        job_role: String::new(),
        status: UserStatus::Active,
        created_on: NaiveDate::from_ymd_opt(2025, 2, 3),
        last_login_at: Some("2026-09-30T08:15:00-04:00".into()),
        terms_accepted_on: None,
        terminated_on: None,
        dob_mmdd: Some(Personal::new("0102".into())),
        ssn_last4: None,
    }
}

fn write_all(
    store: &Arc<PgStore>,
    replace: bool,
    org_row: OrgRow,
    user_row: UserRow,
    terminated: Vec<(i64, NaiveDate)>,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let store = Arc::clone(store);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let pidsl = PidSl::parse("110012345A").unwrap();
        let mut writer = store.import_writer(handle, replace, chrono::Utc::now())?;
        writer.write_orgs(&[org_row])?;
        writer.write_pidsls(&[PidSlRow {
            pidsl: pidsl.clone(),
            org_id: "ORG\t1".into(),
            name: HOSTILE.into(),
            provider_type: "\\t".into(),
            active: true,
        }])?;
        writer.write_users(&[user_row])?;
        writer.write_access(&[AccessRow {
            user_id: 7,
            pidsl,
            role: Role::Primary,
            services: Services::from_bits(3).unwrap(),
            granted_on: NaiveDate::from_ymd_opt(2025, 2, 4),
            expires_on: None,
        }])?;
        writer.set_terminated(&terminated)?;
        writer.commit()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacing_import_copies_hostile_text_that_the_snapshot_reads_back() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = Arc::new(db.open().await);
    write_all(&store, true, org(HOSTILE), user(HOSTILE), vec![])
        .await
        .unwrap()
        .unwrap();
    // A second replacing import empties the tables first: no key conflicts with the first.
    write_all(&store, true, org(HOSTILE), user(HOSTILE), vec![])
        .await
        .unwrap()
        .unwrap();

    let zone: Tz = "America/New_York".parse().unwrap();
    let snapshot = store.load_snapshot(zone).await.unwrap();
    assert_eq!(snapshot.orgs.len(), 1);
    assert_eq!(snapshot.orgs[0].org_id, "ORG\t1");
    assert_eq!(snapshot.orgs[0].name, HOSTILE);
    assert_eq!(
        snapshot.orgs[0].management_emails,
        ["m@example.org", "n\\@example.org"]
    );
    assert_eq!(snapshot.pidsls[0].name, HOSTILE);
    assert_eq!(snapshot.pidsls[0].provider_type, "\\t");
    let u = &snapshot.users[0];
    assert_eq!(u.username, "O\\Brien");
    assert_eq!(u.first_name, HOSTILE);
    assert_eq!(u.last_name, "Smith\r\n");
    assert_eq!(u.phone, "\\N", "the text \\N is not NULL");
    assert_eq!(u.job_role, None);
    assert_eq!(u.last_login_on, NaiveDate::from_ymd_opt(2026, 9, 30));
    assert_eq!(u.dob_mmdd.as_ref().map(Personal::expose), Some("0102"));
    assert_eq!(u.ssn_last4.as_ref().map(Personal::expose), None);
    assert_eq!(snapshot.access.len(), 1);
    assert_eq!(snapshot.access[0].services, Services::from_bits(3).unwrap());
    assert_eq!(
        store.account_counts().await.unwrap(),
        AccountCounts {
            organizations: 1,
            pidsls: 1,
            users: 1,
            access: 1
        }
    );

    // A merge import updates by key, with bound parameters, and applies a roster.
    let left = NaiveDate::from_ymd_opt(2026, 10, 15).unwrap();
    write_all(
        &store,
        false,
        org("Renamed"),
        user("Tab\tagain"),
        vec![(7, left)],
    )
    .await
    .unwrap()
    .unwrap();
    let snapshot = store.load_snapshot(zone).await.unwrap();
    assert_eq!(snapshot.orgs[0].name, "Renamed");
    assert_eq!(snapshot.users[0].first_name, "Tab\tagain");
    assert_eq!(snapshot.users[0].terminated_on, Some(left));
    let known = store.known_accounts().await.unwrap();
    assert_eq!(known.users.get("o\\brien"), Some(&7));
    assert_eq!(known.max_user_id, 7);
    store.close().await;
}

/// Every constraint and index of the store's schema, as the catalog defines them.
async fn keys_and_indexes(store: &PgStore) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT format('%s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) \
         FROM pg_constraint WHERE connamespace = current_schema()::regnamespace \
         UNION ALL SELECT format('%s %s', tablename, indexdef) FROM pg_indexes \
         WHERE schemaname = current_schema() ORDER BY 1",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacing_import_leaves_the_keys_as_the_migrations_made_them_or_rolls_back() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = Arc::new(db.open().await);
    let migrated = keys_and_indexes(&store).await;
    assert!(
        migrated
            .iter()
            .any(|k| k.starts_with("access access_user_id_fkey FOREIGN KEY")),
        "{migrated:#?}"
    );
    write_all(&store, true, org(HOSTILE), user(HOSTILE), vec![])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(keys_and_indexes(&store).await, migrated);

    // A user of an organization the snapshot does not have: the foreign key, checked once at
    // the end, fails the import, and everything is as it was, keys and rows.
    let mut stray = user("Stray");
    stray.org_id = "ORG-NOWHERE".into();
    let error = write_all(&store, true, org("Replaced"), stray, vec![])
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("users_org_id_fkey"),
        "{error:#}"
    );
    assert_eq!(keys_and_indexes(&store).await, migrated);
    let zone: Tz = "America/New_York".parse().unwrap();
    let snapshot = store.load_snapshot(zone).await.unwrap();
    assert_eq!(snapshot.orgs[0].name, HOSTILE);
    assert_eq!(snapshot.users[0].first_name, HOSTILE);
    assert_eq!(snapshot.access.len(), 1);
    store.close().await;
}

#[tokio::test]
async fn a_message_claimed_once_cannot_be_claimed_again() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.open().await;
    let dir = tempfile::tempdir().unwrap();
    conformance::a_message_is_claimed_once(&store, dir.path()).await;
    store.close().await;
}

#[tokio::test]
async fn a_run_and_its_claim_go_through_their_states() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.open().await;
    let zone: Tz = "America/New_York".parse().unwrap();
    let started = zone.with_ymd_and_hms(2026, 10, 1, 6, 0, 0).unwrap();
    let now = started.with_timezone(&Utc);
    assert!(matches!(
        store
            .try_claim(&claim_request("host:1:schedule", now))
            .await
            .unwrap(),
        ClaimOutcome::Taken { retried: None }
    ));
    let new_run = NewRun {
        started,
        as_of: started.date_naive(),
        cadence: Some(Cadence::Quarterly),
        org_ids: &["ORG1".to_string()],
        scope_key: "ORG1",
        owner: "host:1:review",
        out_root: "/out",
        first_sequence: 1,
    };
    let failing = store.start_run(&new_run).await.unwrap();
    let run = store.start_run(&new_run).await.unwrap();
    assert_eq!(run.id, "20261001-002");
    let period = "quarterly:2026-Q4";
    let later = now + chrono::Duration::seconds(30);
    assert!(store
        .claim_running(period, "host:1:schedule", &run.id, later)
        .await
        .unwrap());
    assert!(store
        .claim_heartbeat(period, "host:1:schedule", later)
        .await
        .unwrap());
    assert!(!store
        .claim_heartbeat(period, "someone-else", later)
        .await
        .unwrap());
    assert!(store
        .run_heartbeat(&failing.id, "host:1:review", later)
        .await
        .unwrap());

    // A stale run is failed only if its heartbeat is still the one seen.
    assert!(!store
        .fail_run(&failing.id, "gone", later, Some(now))
        .await
        .unwrap());
    assert!(store
        .fail_run(&failing.id, "gone", later, Some(later))
        .await
        .unwrap());
    assert!(!store
        .fail_run(&failing.id, "gone", later, None)
        .await
        .unwrap());

    let finding = FindingRow {
        run_id: run.id.clone(),
        fingerprint: "fp1".into(),
        rule: crate::domain::RuleId::MissingBackup,
        severity: crate::domain::Severity::High,
        status: crate::domain::FindingStatus::New,
        org_id: "ORG1".into(),
        pidsl: "110012345A".into(),
        username: String::new(),
        user_name: String::new(),
        detail: "no backup".into(),
        remediation: "Assign a backup Primary User of 110012345A: ...".into(),
        first_seen: run.as_of,
        facts: String::new(),
        decision: None,
    };
    store
        .complete_run(
            &run,
            &CompletedRun {
                findings: std::slice::from_ref(&finding),
                reviewed_org_ids: &["ORG1".to_string()],
                out_dir: "/out/20261001-002",
                finished_at: later,
                outbox: &[],
                problems: Some("ORG2: no report"),
            },
        )
        .await
        .unwrap();
    store
        .release_run(&run.id, "host:1:review", None, false)
        .await
        .unwrap();
    assert!(store
        .finish_claim(
            period,
            "host:1:schedule",
            ClaimState::Completed,
            None,
            None,
            later
        )
        .await
        .unwrap());

    let claim = store.claim(period).await.unwrap().unwrap();
    assert_eq!(claim.state, ClaimState::Completed);
    assert_eq!(claim.run_id.as_deref(), Some(run.id.as_str()));
    assert_eq!(claim.finished_at, Some(later));
    assert!(matches!(
        store
            .try_claim(&claim_request("host:2:schedule", later))
            .await
            .unwrap(),
        ClaimOutcome::Completed(_)
    ));
    assert_eq!(store.claims().await.unwrap().len(), 1);

    let stored = store.run(&run.id).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Completed);
    assert_eq!(stored.finished_at, Some(later));
    assert_eq!(stored.error.as_deref(), Some("ORG2: no report"));
    assert_eq!(stored.owner, None);
    assert_eq!(stored.org_ids, ["ORG1"]);
    assert!(store.held_runs().await.unwrap().is_empty());
    assert_eq!(
        store.run(&failing.id).await.unwrap().unwrap().status,
        RunStatus::Failed
    );
    // ORG2 was not reviewed (its report could not be made): it has no previous review.
    let orgs = ["ORG1", "ORG2"].map(String::from);
    assert_eq!(
        store
            .previous_org_findings(&orgs, "20261002-001")
            .await
            .unwrap(),
        std::slice::from_ref(&finding)
    );
    assert!(store
        .previous_org_findings(&orgs, &run.id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.latest_completed_run().await.unwrap().unwrap().id,
        run.id
    );
    assert_eq!(store.runs().await.unwrap().len(), 2);
    assert_eq!(
        store.findings(&run.id, None, None).await.unwrap(),
        [finding]
    );
    assert!(store
        .findings(
            &run.id,
            Some(crate::domain::RuleId::MissingPrimary),
            Some(crate::domain::FindingStatus::New)
        )
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.last_completed_review_per_org().await.unwrap(),
        [("ORG1".to_string(), run.as_of)]
    );

    let decided_at = later + chrono::Duration::days(1);
    store
        .record_decisions(&[NewDecision {
            run_id: run.id.clone(),
            fingerprint: "fp1".into(),
            decision: Decision::NotAProblem,
            justification: "needed".into(),
            reviewer: "carol".into(),
            decided_at,
            accepted_until: None,
            facts: "f1".into(),
        }])
        .await
        .unwrap();
    let decisions = store.decisions(Some(&run.id)).await.unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].decided_at, decided_at);
    assert_eq!(decisions[0].accepted_until, None);
    assert!(store.latest_decisions(&run.id).await.unwrap().is_empty());
    let latest = store.latest_decisions("20261002-001").await.unwrap();
    assert_eq!(latest["fp1"].decision, Decision::NotAProblem);
    assert_eq!(latest["fp1"].facts, "f1");
    store.close().await;
}

#[tokio::test]
async fn mail_is_deferred_failed_and_requeued() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.open().await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO outbox (idempotency_key, run_id, kind, recipient, to_addresses, subject, \
         state, attempts, next_attempt_at, created_at) VALUES \
         ('k1', '20261001-001', 'org', 'ORG1', 'a@example.org', 'Review', 'pending', 0, \
          '2026-10-01T10:00:00Z', '2026-10-01T10:00:00Z'); \
         INSERT INTO outbox_messages (idempotency_key, message) VALUES ('k1', 'Subject: Review')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let now = utc("2026-10-01T10:01:00Z");
    let stale_before = now - chrono::Duration::minutes(10);
    let retry_at = now + chrono::Duration::minutes(5);
    assert_eq!(
        store
            .defer_due_mail(now, false, "server down", retry_at)
            .await
            .unwrap(),
        1
    );
    assert!(store
        .due_mail(now, stale_before, false)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.due_mail(now, stale_before, true).await.unwrap(),
        ["k1"]
    );
    let entry = &store.outbox(None).await.unwrap()[0];
    assert_eq!(entry.next_attempt_at, retry_at);
    assert_eq!(entry.attempts, 0, "a deferred message was not tried");

    store
        .claim_mail("k1", retry_at, stale_before)
        .await
        .unwrap()
        .unwrap();
    store
        .mark_failed(
            "k1",
            "refused",
            now,
            Some(retry_at + chrono::Duration::minutes(5)),
        )
        .await
        .unwrap();
    assert_eq!(store.undelivered_mail().await.unwrap().pending, 1);
    store
        .claim_mail("k1", retry_at, stale_before)
        .await
        .unwrap()
        .unwrap();
    store.mark_failed("k1", "refused", now, None).await.unwrap();
    let undelivered = store.undelivered_mail().await.unwrap();
    assert_eq!((undelivered.pending, undelivered.failed), (0, 1));
    assert_eq!(
        store.outbox(None).await.unwrap()[0].state,
        crate::domain::OutboxState::Failed
    );
    assert_eq!(store.requeue_failed(now).await.unwrap(), 1);
    let entry = &store.outbox(Some("20261001-001")).await.unwrap()[0];
    assert_eq!((entry.attempts, entry.next_attempt_at), (0, now));
    assert_eq!(entry.last_error.as_deref(), Some("refused"));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_reads_and_writes_through_its_transaction() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = Arc::new(db.open().await);
    write_all(&store, true, org("Org"), user("Ann"), vec![])
        .await
        .unwrap()
        .unwrap();
    let pidsl = PidSl::parse("110012345A").unwrap();

    let mut tx = store.begin_write().await.unwrap();
    let info = tx.lock_pidsl(&pidsl).await.unwrap().unwrap();
    assert_eq!((info.org_id.as_str(), info.active), ("ORG\t1", true));
    tx.lock_pidsls_of_user(7).await.unwrap();
    tx.lock_users().await.unwrap();
    let ann = tx.user_by_name(" o\\BRIEN ").await.unwrap().unwrap();
    assert_eq!(ann.id, 7);
    assert!(tx.org_exists("ORG\t1").await.unwrap());
    assert!(!tx.org_exists("ORG2").await.unwrap());
    assert!(tx.pidsl_info(&pidsl).await.unwrap().is_some());
    let members = tx.members_of_pidsl(&pidsl).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].role, Role::Primary);
    assert_eq!(members[0].pidsl_org_id, "ORG\t1");
    assert_eq!(tx.access_of_user(7).await.unwrap().len(), 1);
    assert_eq!(tx.admin_rows_in_org(7, "ORG\t1").await.unwrap().len(), 1);
    let id = tx.next_user_id().await.unwrap();
    assert_eq!(id, 8);
    tx.insert_user(&UserRow {
        id,
        username: "Dee".into(),
        ..user("Dee")
    })
    .await
    .unwrap();
    tx.put_access(&AccessRow {
        role: Role::Backup,
        user_id: id,
        ..members[0].access_row()
    })
    .await
    .unwrap();
    tx.set_user_status(7, UserStatus::Inactive).await.unwrap();
    tx.delete_access(7, &pidsl).await.unwrap();
    tx.record_audit(&AuditEvent {
        id: 0,
        at: utc("2026-10-02T13:30:00Z"),
        actor: "alice".into(),
        ran_as: String::new(),
        action: "grant".into(),
        username: "Dee".into(),
        pidsl: pidsl.as_str().into(),
        services_before: Services::EMPTY,
        services_after: Services::from_bits(3).unwrap(),
        detail: String::new(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let role = store.database_role().await.unwrap();
    let events = store.audit_events(None).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].ran_as, role, "the database records who ran it");
    assert_eq!(events[0].services_after, Services::from_bits(3).unwrap());

    // Nothing written in a transaction dropped without commit.
    let mut tx = store.begin_write().await.unwrap();
    tx.delete_access(id, &pidsl).await.unwrap();
    drop(tx);
    let mut read = store.begin_read().await.unwrap();
    let members = read.members_of_pidsl(&pidsl).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].username, "Dee");
    assert!(
        read.set_user_status(8, UserStatus::Inactive).await.is_err(),
        "read-only"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_knows_its_identity_and_last_import() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.open().await;
    conformance::the_store_knows_its_identity_and_last_import(&store).await;
    store.close().await;
}

#[tokio::test]
async fn two_stores_have_different_identities() {
    let (Some(a), Some(b)) = (TestDatabase::create().await, TestDatabase::create().await) else {
        return;
    };
    let (first, second) = (a.open().await, b.open().await);
    conformance::two_stores_have_different_identities(&first, &second).await;
    first.close().await;
    second.close().await;
}

#[tokio::test]
async fn run_ids_skip_to_the_first_free_sequence() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.open().await;
    conformance::run_ids_skip_to_the_first_free_sequence(&store).await;
    store.close().await;
}

#[tokio::test]
async fn the_outbox_says_when_mail_is_due() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.open().await;
    let dir = tempfile::tempdir().unwrap();
    conformance::the_outbox_says_when_mail_is_due(&store, dir.path()).await;
    store.close().await;
}

#[tokio::test]
async fn each_mail_problem_is_alerted_once() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.open().await;
    let dir = tempfile::tempdir().unwrap();
    conformance::each_mail_problem_is_alerted_once(&store, dir.path()).await;
    store.close().await;
}

#[tokio::test]
async fn a_stale_claim_of_a_completed_run_is_closed() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.open().await;
    conformance::a_stale_claim_of_a_completed_run_is_closed(&store).await;
    store.close().await;
}

/// The operations migration on a store written before it: the store gets an identity, and
/// its queued mail is not alerted yet.
#[tokio::test]
async fn a_store_from_before_operations_gets_an_identity() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let before_operations = Migrator {
        migrations: Cow::Owned(
            MIGRATOR
                .iter()
                .filter(|m| m.version < 20261201000013)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    };
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    before_operations.run(&mut conn).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO outbox (idempotency_key, run_id, kind, recipient, to_addresses, subject, \
         state, attempts, next_attempt_at, created_at) VALUES ('k1', '20261001-001', 'org', \
         'ORG1', 'a@example.org', 'Review', 'failed', 3, '2026-10-01T10:00:00Z', \
         '2026-10-01T09:00:00Z')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let store = db.open().await;
    let info = store.store_info().await.unwrap();
    assert_eq!(info.store_id.len(), 16, "{info:?}");
    assert_eq!(info.last_import_at, None);
    let problems = store
        .unalerted_mail(utc("2026-10-01T09:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].problem, crate::domain::MailAlert::Failed);
    store.close().await;
}

#[tokio::test]
async fn trends_count_open_findings_of_the_last_reviews() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.open().await;
    conformance::trends_count_open_findings_of_the_last_reviews(&store).await;
    store.close().await;
}

#[tokio::test]
async fn trends_of_twenty_thousand_organizations_are_one_query_each() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.open().await;
    let (orgs, scope) = conformance::trends_of_twenty_thousand_organizations(&store).await;
    eprintln!(
        "PostgreSQL, 20,000 organizations x 8 reviews: org_trends {orgs:?}, scope_trend {scope:?}"
    );
    store.close().await;
}

/// The trends migration on a store written before it (the same history as SQLite's test).
#[tokio::test]
async fn a_store_from_before_trends_gets_its_history_counted() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let before_trends = Migrator {
        migrations: Cow::Owned(
            MIGRATOR
                .iter()
                .filter(|m| m.version < 20261202000014)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    };
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    before_trends.run(&mut conn).await.unwrap();
    sqlx::raw_sql(conformance::BEFORE_TRENDS)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let store = db.open().await;
    conformance::history_from_before_trends_is_counted(&store).await;
    store.close().await;
}

#[tokio::test]
async fn previous_org_findings_are_each_organizations_last_review() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.open().await;
    conformance::previous_org_findings_are_each_organizations_last_review(&store).await;
    store.close().await;
}

#[tokio::test]
async fn previous_findings_of_twenty_thousand_organizations_are_one_query() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.open().await;
    let took = conformance::previous_findings_of_twenty_thousand_organizations(&store).await;
    eprintln!("PostgreSQL, previous_org_findings of 20,000 organizations: {took:?}");
    store.close().await;
}

#[tokio::test]
async fn follow_ups_are_read_by_run() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.open().await;
    let dir = tempfile::tempdir().unwrap();
    conformance::follow_ups_are_read_by_run(&store, dir.path()).await;
    store.close().await;
}

/// The status migration on history the previous binary wrote (the same as SQLite's test).
#[tokio::test]
async fn a_store_from_before_status_per_org_gets_its_history_recomputed() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let before = Migrator {
        migrations: Cow::Owned(
            MIGRATOR
                .iter()
                .filter(|m| m.version < 20261205000017)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    };
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    before.run(&mut conn).await.unwrap();
    sqlx::raw_sql(conformance::BEFORE_STATUS_PER_ORG)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let store = db.open().await;
    conformance::history_from_before_status_per_org_is_recomputed(&store).await;
    store.close().await;
}

#[tokio::test]
async fn follow_ups_are_queued_once_per_key() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.open().await;
    let dir = tempfile::tempdir().unwrap();
    conformance::follow_ups_are_queued_once_per_key(&store, dir.path()).await;
    store.close().await;
}
