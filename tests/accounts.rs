//! `posc-review accounts ...`: every job-aid operation's success path with its audit event,
//! every policy refusal (exit status 2, nothing written), masked personal data, and the
//! atomicity of check and write under concurrency — on SQLite and PostgreSQL.
//!
//! Fixtures come from tests/fixtures/scenario4: gpatel is the Primary User and jokafor the
//! backup of 110000001A; mchen is the only Primary User of 110000001B; sdubois is the backup
//! of 110000001C, whose Primary User lrivera left on 2026-08-31; tterm (Bay State Billing) left
//! on 2026-09-15 and is still linked to 110000001B; hadmin administers only Harborview's PID/SLs.

mod common;

use async_trait::async_trait;
use common::{block_on, copy_snapshot, scenario4, stderr, stdout, Bin, TestDb};
use posc_review::accounts::{self, Operation, OperationTime};
use posc_review::clock::SystemClock;
use posc_review::domain::{PidSl, Services, UserStatus};
use posc_review::error::UsageError;
use posc_review::store::{self, AccessRow, AccountsTx, AuditEvent, Member, PidSlInfo, UserRow};
use serde_json::Value;
use std::path::Path;
use tokio::sync::oneshot;

fn setup(db: &TestDb) -> Bin {
    let bin = Bin::new(db);
    import(&bin, &scenario4());
    bin
}

fn import(bin: &Bin, dir: &Path) {
    let out = bin.run(&["import", dir.to_str().unwrap()]);
    assert!(out.status.success(), "import failed: {}", stderr(&out));
}

/// Runs `accounts ARGS...`, which must succeed; returns stdout.
fn ok(bin: &Bin, args: &[&str]) -> String {
    let mut all = vec!["accounts"];
    all.extend_from_slice(args);
    let out = bin.run(&all);
    assert!(
        out.status.success(),
        "{args:?} failed ({:?}): {}",
        out.status.code(),
        stderr(&out)
    );
    stdout(&out)
}

/// Runs `accounts ARGS...`, which must be refused with exit status 2, a message containing
/// `reason`, and no audit event written.
fn refused(bin: &Bin, args: &[&str], reason: &str) {
    let before = history(bin, None).len();
    let mut all = vec!["accounts"];
    all.extend_from_slice(args);
    let out = bin.run(&all);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?}: expected exit 2: {err}"
    );
    assert!(err.contains(reason), "{args:?}: {reason:?} not in: {err}");
    assert_eq!(
        history(bin, None).len(),
        before,
        "{args:?} wrote an audit event"
    );
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn history(bin: &Bin, user: Option<&str>) -> Vec<Value> {
    let mut args = vec!["history", "--format", "json"];
    args.extend(user);
    json(&ok(bin, &args)).as_array().unwrap().clone()
}

fn last_event(bin: &Bin, user: &str) -> Value {
    history(bin, Some(user))
        .pop()
        .unwrap_or_else(|| panic!("no event for {user}"))
}

fn codes(list: &[&str]) -> Value {
    Value::from(list.to_vec())
}

/// The user's access row on the PID/SL, from `accounts show --format json`.
fn access_row(bin: &Bin, user: &str, pidsl: &str) -> Option<Value> {
    let view = json(&ok(bin, &["show", user, "--format", "json"]));
    view["access"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["pidsl"] == pidsl)
        .cloned()
}

fn status(bin: &Bin, user: &str) -> String {
    json(&ok(bin, &["show", user, "--format", "json"]))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

const ALL_OF_GPATEL: [&str; 12] = [
    "PRIMARY_USER",
    "MANAGE_SUBORDINATES",
    "PORTAL",
    "CLAIMS",
    "REPORTS",
    "FINANCIAL",
    "REFERRALS",
    "BATCH",
    "SERVICE_AUTH",
    "CONTRACTS",
    "ELIGIBILITY",
    "PROFILE",
];

#[test]
fn create_adds_a_subordinate_with_portal_and_records_it() {
    for db in TestDb::all() {
        let bin = setup(&db);
        let out = ok(
            &bin,
            &[
                "create",
                "hlopez",
                "--first-name",
                "Hector",
                "--last-name",
                "Lopez",
                "--email",
                "hlopez@riverbend.example",
                "--org",
                "ORG-GP",
                "--job-role",
                "biller",
                "--pidsl",
                "110000001a",
                "--services",
                "CLAIMS;Batch File Submit and Download",
                "--by",
                "gpatel",
            ],
        );
        assert!(out.contains("PORTAL added"), "{out}");
        let row = access_row(&bin, "hlopez", "110000001A").expect("access row");
        assert_eq!(row["role"], "subordinate");
        assert_eq!(row["services"], codes(&["PORTAL", "CLAIMS", "BATCH"]));
        let view = json(&ok(&bin, &["show", "hlopez", "--format", "json"]));
        assert_eq!(view["status"], "active", "[{}]", db.backend);
        assert_eq!(view["org_id"], "ORG-GP");

        let event = last_event(&bin, "hlopez");
        assert_eq!(event["action"], "create");
        assert_eq!(event["actor"], "gpatel");
        assert_eq!(event["username"], "hlopez");
        assert_eq!(event["pidsl"], "110000001A");
        assert_eq!(event["services_before"], codes(&[]));
        assert_eq!(
            event["services_after"],
            codes(&["PORTAL", "CLAIMS", "BATCH"])
        );
        assert!(!event["at"].as_str().unwrap().is_empty());
    }
}

#[test]
fn create_with_an_existing_username_in_another_case_is_refused() {
    for db in TestDb::all() {
        let bin = setup(&db);
        refused(
            &bin,
            &[
                "create",
                "AKim",
                "--first-name",
                "Alice",
                "--last-name",
                "Kim",
                "--email",
                "alice.kim@riverbend.example",
                "--org",
                "ORG-GP",
                "--pidsl",
                "110000001A",
                "--services",
                "PORTAL",
                "--by",
                "gpatel",
            ],
            "taken by akim",
        );
    }
}

#[test]
fn create_may_not_grant_manage_subordinates() {
    for db in TestDb::all() {
        let bin = setup(&db);
        refused(
            &bin,
            &[
                "create",
                "newbie",
                "--first-name",
                "New",
                "--last-name",
                "Bie",
                "--email",
                "newbie@riverbend.example",
                "--org",
                "ORG-GP",
                "--pidsl",
                "110000001A",
                "--services",
                "PORTAL,Manage Subordinate Accounts",
                "--by",
                "gpatel",
            ],
            "MANAGE_SUBORDINATES is only for the Primary User and the backup",
        );
    }
}

#[test]
fn link_gives_an_existing_user_access_until_a_date() {
    for db in TestDb::all() {
        let bin = setup(&db);
        ok(
            &bin,
            &[
                "link",
                "rbaker",
                "--pidsl",
                "110000002A",
                "--services",
                "PORTAL;CLAIMS",
                "--expires-on",
                "2099-06-30",
                "--by",
                "qquinn",
            ],
        );
        let row = access_row(&bin, "rbaker", "110000002A").expect("access row");
        assert_eq!(row["role"], "subordinate");
        assert_eq!(row["linked"], true);
        assert_eq!(row["expires_on"], "2099-06-30");
        assert_eq!(row["services"], codes(&["PORTAL", "CLAIMS"]));

        let event = last_event(&bin, "rbaker");
        assert_eq!(event["action"], "link");
        assert_eq!(event["actor"], "qquinn");
        assert_eq!(event["pidsl"], "110000002A");
        assert_eq!(event["services_after"], codes(&["PORTAL", "CLAIMS"]));
        assert!(event["detail"]
            .as_str()
            .unwrap()
            .contains("until 2099-06-30"));
    }
}

#[test]
fn link_of_an_unknown_user_is_refused() {
    for db in TestDb::all() {
        let bin = setup(&db);
        refused(
            &bin,
            &[
                "link",
                "nobody-here",
                "--pidsl",
                "110000001A",
                "--services",
                "PORTAL",
                "--by",
                "gpatel",
            ],
            "no user \"nobody-here\"",
        );
    }
}

#[test]
fn update_services_replaces_the_services_and_records_before_and_after() {
    for db in TestDb::all() {
        let bin = setup(&db);
        let out = ok(
            &bin,
            &[
                "update-services",
                "BWright",
                "--pidsl",
                "110000001A",
                "--services",
                "PORTAL;CLAIMS",
                "--by",
                "jokafor",
            ],
        );
        assert!(out.contains("removed REPORTS;BATCH;ELIGIBILITY"), "{out}");
        // The job aid's steps, with the PID/SL, the user and the services to move.
        assert!(
            out.contains(
                "Next: Move the services in the POSC too: Administer Account > Manage Subordinate \
                 Accounts > choose 110000001A from the Provider dropdown > Search > click the name \
                 of Ben Wright (bwright) > on the Update Subordinate panel, move View Provider \
                 Reports, Batch File Submit and Download, Manage Member Eligibility to Available \
                 Services, then click Submit > on the Confirmation panel, click Close after \
                 verifying that your update has been performed."
            ),
            "{out}"
        );
        let row = access_row(&bin, "bwright", "110000001A").unwrap();
        assert_eq!(row["services"], codes(&["PORTAL", "CLAIMS"]));
        // Only that PID/SL changed.
        let other = access_row(&bin, "bwright", "110000001B").unwrap();
        assert_eq!(other["services"].as_array().unwrap().len(), 6);

        let event = last_event(&bin, "bwright");
        assert_eq!(event["action"], "update-services");
        assert_eq!(event["actor"], "jokafor");
        assert_eq!(event["username"], "bwright");
        assert_eq!(
            event["services_before"],
            codes(&["PORTAL", "CLAIMS", "REPORTS", "BATCH", "ELIGIBILITY"])
        );
        assert_eq!(event["services_after"], codes(&["PORTAL", "CLAIMS"]));
    }
}

#[test]
fn a_subordinate_cannot_be_given_manage_subordinates() {
    for db in TestDb::all() {
        let bin = setup(&db);
        refused(
            &bin,
            &[
                "update-services",
                "bwright",
                "--pidsl",
                "110000001A",
                "--services",
                "PORTAL;MANAGE_SUBORDINATES",
                "--by",
                "gpatel",
            ],
            "MANAGE_SUBORDINATES is only for the Primary User and the backup",
        );
        refused(
            &bin,
            &[
                "update-services",
                "bwright",
                "--pidsl",
                "110000001A",
                "--services",
                "PORTAL;Primary Portal User",
                "--by",
                "gpatel",
            ],
            "PRIMARY_USER is only for the Primary User and the backup",
        );
    }
}

/// scenario4 with two backups on 110000001B (bwright and cjones) who lack PRIMARY_USER; mchen,
/// the Primary User, is its only holder.
fn two_backups_snapshot() -> tempfile::TempDir {
    let dir = copy_snapshot(&scenario4());
    let path = dir.path().join("access.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replace(
            "bwright,110000001B,subordinate,PORTAL;CLAIMS;BATCH;ELIGIBILITY;REPORTS;View Financial Data,",
            "bwright,110000001B,backup,PORTAL;CLAIMS,",
        )
        .replace(
            "cjones,110000001B,subordinate,ELIGIBILITY;REFERRALS,",
            "cjones,110000001B,backup,PORTAL;REFERRALS,",
        );
    assert_eq!(text.matches(",110000001B,backup,").count(), 2);
    std::fs::write(&path, text).unwrap();
    dir
}

fn primary_user_holders(bin: &Bin, pidsl: &str) -> Vec<String> {
    let rows = json(&ok(bin, &["list", "--pidsl", pidsl, "--format", "json"]));
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["services"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "PRIMARY_USER")
        })
        .map(|r| r["username"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_third_primary_user_holder_is_refused() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        let snapshot = two_backups_snapshot();
        import(&bin, snapshot.path());
        ok(
            &bin,
            &[
                "update-services",
                "bwright",
                "--pidsl",
                "110000001B",
                "--services",
                "PRIMARY_USER;PORTAL;CLAIMS",
                "--by",
                "mchen",
            ],
        );
        refused(
            &bin,
            &[
                "update-services",
                "cjones",
                "--pidsl",
                "110000001B",
                "--services",
                "PRIMARY_USER;PORTAL;REFERRALS",
                "--by",
                "mchen",
            ],
            "110000001B already has 2 holders of PRIMARY_USER (mchen, bwright); at most 2 are allowed",
        );
        assert_eq!(
            primary_user_holders(&bin, "110000001B"),
            ["mchen", "bwright"]
        );
    }
}

/// A write transaction that stops before its first write until `release`, having said on
/// `reached` that it got there: its policy check is done and nothing is written yet.
struct HeldBeforeWrite {
    inner: Box<dyn AccountsTx>,
    reached: Option<oneshot::Sender<()>>,
    release: Option<oneshot::Receiver<()>>,
}

#[async_trait]
impl AccountsTx for HeldBeforeWrite {
    async fn lock_pidsl(&mut self, pidsl: &PidSl) -> anyhow::Result<Option<PidSlInfo>> {
        self.inner.lock_pidsl(pidsl).await
    }
    async fn lock_pidsls_of_user(&mut self, user_id: i64) -> anyhow::Result<()> {
        self.inner.lock_pidsls_of_user(user_id).await
    }
    async fn lock_users(&mut self) -> anyhow::Result<()> {
        self.inner.lock_users().await
    }
    async fn user_by_name(&mut self, username: &str) -> anyhow::Result<Option<UserRow>> {
        self.inner.user_by_name(username).await
    }
    async fn org_exists(&mut self, org_id: &str) -> anyhow::Result<bool> {
        self.inner.org_exists(org_id).await
    }
    async fn pidsl_info(&mut self, pidsl: &PidSl) -> anyhow::Result<Option<PidSlInfo>> {
        self.inner.pidsl_info(pidsl).await
    }
    async fn members_of_pidsl(&mut self, pidsl: &PidSl) -> anyhow::Result<Vec<Member>> {
        self.inner.members_of_pidsl(pidsl).await
    }
    async fn access_of_user(&mut self, user_id: i64) -> anyhow::Result<Vec<Member>> {
        self.inner.access_of_user(user_id).await
    }
    async fn admin_rows_in_org(
        &mut self,
        user_id: i64,
        org_id: &str,
    ) -> anyhow::Result<Vec<Member>> {
        self.inner.admin_rows_in_org(user_id, org_id).await
    }
    async fn next_user_id(&mut self) -> anyhow::Result<i64> {
        self.inner.next_user_id().await
    }
    async fn put_access(&mut self, row: &AccessRow) -> anyhow::Result<()> {
        if let Some(reached) = self.reached.take() {
            let _ = reached.send(());
        }
        if let Some(release) = self.release.take() {
            let _ = release.await;
        }
        self.inner.put_access(row).await
    }
    async fn delete_access(&mut self, user_id: i64, pidsl: &PidSl) -> anyhow::Result<()> {
        self.inner.delete_access(user_id, pidsl).await
    }
    async fn insert_user(&mut self, row: &UserRow) -> anyhow::Result<()> {
        self.inner.insert_user(row).await
    }
    async fn set_user_status(&mut self, user_id: i64, status: UserStatus) -> anyhow::Result<()> {
        self.inner.set_user_status(user_id, status).await
    }
    async fn record_audit(&mut self, event: &AuditEvent) -> anyhow::Result<()> {
        self.inner.record_audit(event).await
    }
    async fn commit(self: Box<Self>) -> anyhow::Result<()> {
        self.inner.commit().await
    }
}

fn grant_primary_user(username: &str, services: &str) -> Operation {
    Operation::UpdateServices {
        username: username.into(),
        pidsl: PidSl::parse("110000001B").unwrap(),
        services: Services::parse_list(services).unwrap(),
    }
}

#[test]
fn concurrent_grants_never_make_a_third_primary_user_holder() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        let snapshot = two_backups_snapshot();
        import(&bin, snapshot.path());
        // Worker threads of their own: a store may wait for a lock by blocking its thread.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (first, second) = runtime.block_on(async {
            let store = store::open(&db.url, store::DEFAULT_CONNECT_TIMEOUT)
                .await
                .unwrap();
            let time = OperationTime::read(&SystemClock, chrono_tz::America::New_York);
            let (reached, at_write) = oneshot::channel();
            let (release, released) = oneshot::channel();
            let held = HeldBeforeWrite {
                inner: store.begin_write().await.unwrap(),
                reached: Some(reached),
                release: Some(released),
            };
            let first = tokio::spawn(async move {
                accounts::perform_in(
                    Box::new(held),
                    "mchen",
                    grant_primary_user("bwright", "PRIMARY_USER;PORTAL;CLAIMS"),
                    &time,
                )
                .await
            });
            // The first has counted one holder (mchen) and is about to write bwright's grant.
            at_write.await.unwrap();
            let second = tokio::spawn({
                let store = store.clone();
                async move {
                    accounts::perform(
                        store.as_ref(),
                        "mchen",
                        grant_primary_user("cjones", "PRIMARY_USER;PORTAL;REFERRALS"),
                        &time,
                    )
                    .await
                }
            });
            // Without the lock, the second would read one holder too in this time, and both
            // would write.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            assert!(
                !second.is_finished(),
                "[{}] the second grant did not wait for the first",
                db.backend
            );
            release.send(()).unwrap();
            let outcomes = (first.await.unwrap(), second.await.unwrap());
            store.close().await;
            outcomes
        });
        first.unwrap_or_else(|e| panic!("[{}] the first grant failed: {e:#}", db.backend));
        let refusal = second.expect_err("the second grant makes a third holder");
        assert!(
            refusal.downcast_ref::<UsageError>().is_some()
                && refusal
                    .to_string()
                    .contains("110000001B already has 2 holders of PRIMARY_USER (mchen, bwright)"),
            "[{}] {refusal:#}",
            db.backend
        );
        assert_eq!(
            primary_user_holders(&bin, "110000001B"),
            ["mchen", "bwright"]
        );
        // Only the accepted grant is in the audit log.
        let events = history(&bin, None);
        assert_eq!(events.len(), 1, "[{}]", db.backend);
        assert_eq!(events[0]["username"], "bwright");
    }
}

#[test]
fn reset_password_records_the_request_and_says_what_to_do_next() {
    for db in TestDb::all() {
        let bin = setup(&db);
        let out = ok(
            &bin,
            &[
                "reset-password",
                "akim",
                "--pidsl",
                "110000001A",
                "--by",
                "gpatel",
            ],
        );
        assert!(out.contains("Reset Password"), "{out}");
        assert!(out.contains("temporary password"), "{out}");
        let event = last_event(&bin, "akim");
        assert_eq!(event["action"], "reset-password");
        assert_eq!(event["actor"], "gpatel");
        assert_eq!(event["services_before"], event["services_after"]);
        // A backup may reset the Primary User's password.
        ok(
            &bin,
            &[
                "reset-password",
                "gpatel",
                "--pidsl",
                "110000001A",
                "--by",
                "jokafor",
            ],
        );
        assert_eq!(last_event(&bin, "gpatel")["action"], "reset-password");
    }
}

#[test]
fn a_primary_user_cannot_reset_their_own_password() {
    for db in TestDb::all() {
        let bin = setup(&db);
        refused(
            &bin,
            &[
                "reset-password",
                "gpatel",
                "--pidsl",
                "110000001A",
                "--by",
                "GPatel",
            ],
            "cannot reset their own password",
        );
    }
}

#[test]
fn remove_takes_away_one_pidsls_access_and_leaves_the_user_active() {
    for db in TestDb::all() {
        let bin = setup(&db);
        ok(
            &bin,
            &[
                "remove",
                "bwright",
                "--pidsl",
                "110000001A",
                "--by",
                "gpatel",
            ],
        );
        assert!(access_row(&bin, "bwright", "110000001A").is_none());
        assert!(access_row(&bin, "bwright", "110000001B").is_some());
        assert_eq!(status(&bin, "bwright"), "active");
        let event = last_event(&bin, "bwright");
        assert_eq!(event["action"], "remove");
        assert_eq!(event["pidsl"], "110000001A");
        assert_eq!(event["services_after"], codes(&[]));
        assert_eq!(
            event["services_before"],
            codes(&["PORTAL", "CLAIMS", "REPORTS", "BATCH", "ELIGIBILITY"])
        );
    }
}

#[test]
fn removing_a_terminated_users_access_takes_it_out_of_the_store_the_review_reads() {
    for db in TestDb::all() {
        let bin = setup(&db);
        ok(
            &bin,
            &["remove", "tterm", "--pidsl", "110000001B", "--by", "mchen"],
        );
        let snapshot = block_on(async {
            let store = db.store().await;
            let snapshot = store
                .load_snapshot(chrono_tz::America::New_York)
                .await
                .unwrap();
            store.close().await;
            snapshot
        });
        let tterm = snapshot
            .users
            .iter()
            .position(|u| u.username == "tterm")
            .unwrap() as u32;
        assert!(
            !snapshot.access.iter().any(|a| a.user == tterm),
            "[{}] tterm still has an access row",
            db.backend
        );
        assert_eq!(snapshot.access.len(), 58);
    }
}

#[test]
fn deactivate_and_reactivate_change_the_status_and_keep_the_access() {
    for db in TestDb::all() {
        let bin = setup(&db);
        let out = ok(&bin, &["deactivate", "akim", "--by", "gpatel"]);
        assert_eq!(status(&bin, "akim"), "inactive");
        // The POSC has no Deactivate User ID button: the Guide sends the Primary User to
        // MassHealth Customer Service.
        assert!(
            out.contains(
                "Next: The POSC has no button to deactivate a user ID: contact MassHealth \
                 Customer Service at 1-800-841-2900 to ensure that the security profile of Alice \
                 Kim (akim) has been updated"
            ),
            "{out}"
        );
        assert!(!out.contains("Deactivate User ID"), "{out}");
        assert!(access_row(&bin, "akim", "110000001A").is_some());
        let event = last_event(&bin, "akim");
        assert_eq!(event["action"], "deactivate");
        assert_eq!(event["actor"], "gpatel");
        assert_eq!(event["pidsl"], "");

        refused(
            &bin,
            &["deactivate", "akim", "--by", "gpatel"],
            "already inactive",
        );

        // Any Primary User or backup of a PID/SL of akim's organization may reactivate.
        ok(&bin, &["reactivate", "akim", "--by", "sdubois"]);
        assert_eq!(status(&bin, "akim"), "active");
        let event = last_event(&bin, "akim");
        assert_eq!(event["action"], "reactivate");
        assert_eq!(event["actor"], "sdubois");
    }
}

#[test]
fn deactivate_by_an_administrator_of_another_organization_is_refused() {
    for db in TestDb::all() {
        let bin = setup(&db);
        refused(
            &bin,
            &["deactivate", "akim", "--by", "hadmin"],
            "hadmin is not the Primary User or backup of any PID/SL of ORG-GP",
        );
        assert_eq!(status(&bin, "akim"), "active");
    }
}

#[test]
fn a_terminated_user_is_not_reactivated() {
    for db in TestDb::all() {
        let bin = setup(&db);
        refused(
            &bin,
            &["reactivate", "oleft", "--by", "gpatel"],
            "oleft left the organization on 2026-05-01",
        );
    }
}

#[test]
fn set_backup_gives_the_backup_every_service_of_the_primary() {
    for db in TestDb::all() {
        let bin = setup(&db);
        ok(
            &bin,
            &[
                "set-backup",
                "bwright",
                "--pidsl",
                "110000001A",
                "--by",
                "gpatel",
            ],
        );
        let row = access_row(&bin, "bwright", "110000001A").unwrap();
        assert_eq!(row["role"], "backup");
        assert_eq!(row["services"], codes(&ALL_OF_GPATEL));
        // The previous backup is a subordinate without the administrator services.
        let old = access_row(&bin, "jokafor", "110000001A").unwrap();
        assert_eq!(old["role"], "subordinate");
        let services = old["services"].as_array().unwrap();
        assert!(!services
            .iter()
            .any(|s| s == "PRIMARY_USER" || s == "MANAGE_SUBORDINATES"));
        assert_eq!(
            primary_user_holders(&bin, "110000001A"),
            ["gpatel", "bwright"]
        );

        let event = last_event(&bin, "bwright");
        assert_eq!(event["action"], "set-backup");
        assert_eq!(event["services_after"], codes(&ALL_OF_GPATEL));
        let event = last_event(&bin, "jokafor");
        assert_eq!(event["action"], "set-backup");
        assert!(event["detail"]
            .as_str()
            .unwrap()
            .contains("passed to bwright"));
    }
}

#[test]
fn an_actor_who_is_not_primary_or_backup_is_refused() {
    for db in TestDb::all() {
        let bin = setup(&db);
        let args = |by| {
            [
                "update-services",
                "akim",
                "--pidsl",
                "110000001A",
                "--services",
                "PORTAL",
                "--by",
                by,
            ]
        };
        refused(
            &bin,
            &args("bwright"),
            "bwright is a subordinate of 110000001A, not its Primary User or backup",
        );
        refused(&bin, &args("hadmin"), "hadmin has no access to 110000001A");
        refused(&bin, &args("ghost"), "no user \"ghost\"");
        refused(
            &bin,
            &["remove", "akim", "--pidsl", "110000001A", "--by", "mchen"],
            "mchen has no access to 110000001A",
        );
    }
}

#[test]
fn an_inactive_actor_is_refused() {
    for db in TestDb::all() {
        let bin = setup(&db);
        // lrivera, the Primary User of 110000001C, left on 2026-08-31.
        refused(
            &bin,
            &["remove", "dlee", "--pidsl", "110000001C", "--by", "lrivera"],
            "lrivera left the organization on 2026-08-31",
        );
        // A deactivated backup may no longer act.
        ok(&bin, &["deactivate", "jokafor", "--by", "gpatel"]);
        refused(
            &bin,
            &[
                "reset-password",
                "akim",
                "--pidsl",
                "110000001A",
                "--by",
                "jokafor",
            ],
            "jokafor's user ID is inactive",
        );
    }
}

#[test]
fn an_unknown_pidsl_is_refused() {
    for db in TestDb::all() {
        let bin = setup(&db);
        refused(
            &bin,
            &[
                "link",
                "akim",
                "--pidsl",
                "119999999Z",
                "--services",
                "PORTAL",
                "--by",
                "gpatel",
            ],
            "unknown PID/SL 119999999Z",
        );
        refused(
            &bin,
            &["remove", "akim", "--pidsl", "1100-1A", "--by", "gpatel"],
            "is not a PID/SL",
        );
        refused(
            &bin,
            &["list", "--pidsl", "119999999Z"],
            "unknown PID/SL 119999999Z",
        );
    }
}

#[test]
fn show_never_prints_the_day_of_birth_or_ssn() {
    for db in TestDb::all() {
        let bin = setup(&db);
        for (user, dob, ssn) in [("gpatel", "02/02", "2222"), ("jokafor", "07/19", "4410")] {
            for format in ["text", "json"] {
                let out = ok(&bin, &["show", user, "--format", format]);
                assert!(!out.contains(dob), "[{format}] dob shown: {out}");
                assert!(!out.contains(ssn), "[{format}] ssn shown: {out}");
                assert!(out.contains("**/**"), "{out}");
                assert!(out.contains("****"), "{out}");
            }
        }
        let out = ok(&bin, &["show", "gpatel"]);
        for pidsl in ["110000001A", "110000001D", "110000001E"] {
            assert!(out.contains(pidsl), "{pidsl} not listed: {out}");
        }
    }
}

#[test]
fn list_shows_a_pidsls_users_and_history_shows_events_as_a_table() {
    for db in TestDb::all() {
        let bin = setup(&db);
        let out = ok(&bin, &["list", "--pidsl", "110000001A"]);
        assert!(out.contains("110000001A of ORG-GP: 11 users"), "{out}");
        let first_rows: Vec<&str> = out.lines().skip(2).take(2).collect();
        assert!(first_rows[0].starts_with("gpatel "), "{out}");
        assert!(first_rows[1].starts_with("jokafor "), "{out}");

        assert!(ok(&bin, &["history"]).contains("No audit events."));
        ok(
            &bin,
            &["remove", "hnew", "--pidsl", "110000001A", "--by", "gpatel"],
        );
        let table = ok(&bin, &["history"]);
        assert!(table.lines().next().unwrap().starts_with("AT "), "{table}");
        assert!(table.contains("gpatel"), "{table}");
        assert!(table.contains("remove"), "{table}");
        assert!(table.contains("PORTAL;ELIGIBILITY"), "{table}");
        assert!(table.contains("\n1 event\n"), "{table}");
        assert!(history(&bin, Some("akim")).is_empty());
    }
}

/// The findings of a new review on the sample's date, as (rule, pidsl, username).
fn review_findings(bin: &Bin, out: &Path) -> Vec<(String, String, String)> {
    let result = bin.run(&[
        "review",
        "--as-of",
        "2026-10-01",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let summary = json(&stdout(&result));
    let dir = Path::new(summary["out_dir"].as_str().unwrap()).to_path_buf();
    common::read_csv(&dir.join("findings.csv"))
        .into_iter()
        .map(|r| (r["rule"].clone(), r["pidsl"].clone(), r["username"].clone()))
        .collect()
}

#[test]
fn the_next_review_reflects_a_removal() {
    for db in TestDb::all() {
        let bin = setup(&db);
        let out = tempfile::tempdir().unwrap();
        let tterm_on_1b = (
            "terminated-user-access".to_string(),
            "110000001B".to_string(),
            "tterm".to_string(),
        );
        assert!(
            review_findings(&bin, out.path()).contains(&tterm_on_1b),
            "[{}] before",
            db.backend
        );
        ok(
            &bin,
            &["remove", "tterm", "--pidsl", "110000001B", "--by", "mchen"],
        );
        let after = review_findings(&bin, out.path());
        assert!(
            !after.contains(&tterm_on_1b),
            "[{}] the removed terminated user stops appearing",
            db.backend
        );
        assert!(
            after
                .iter()
                .any(|f| f.0 == "terminated-user-active" && f.2 == "tterm"),
            "her user ID is still active, so that finding stays"
        );
    }
}
