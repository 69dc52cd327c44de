//! Writes the review workbook for a statewide run, to measure time and memory:
//! `cargo bench --bench workbook -- [FINDINGS] [ACCESS_ROWS] [OUT_DIR]`
//! (defaults 1,000,000 findings and 4,000,000 access rows, into target/). Run it under
//! `/usr/bin/time -v` for the peak RSS; it prints its own resident memory before and after
//! writing, so the workbook's share can be told from the synthetic data's. Then it writes the
//! decision workbooks of 2,000 PID/SLs, as their action lists carry them, and prints the time
//! per workbook.

use chrono::NaiveDate;
use posc_review::domain::{
    Cadence, FindingStatus, OrgKind, PidSl, Role, RuleId, RunStatus, Services, UserStatus,
};
use posc_review::report::summary::Summary;
use posc_review::report::xlsx::{self, WorkbookInput};
use posc_review::snapshot::{Access, Org, PidSlRecord, Snapshot, User};
use posc_review::store::{FindingRow, RunCounts, RunRecord};
use std::time::Instant;

const RULES: [&str; 6] = [
    "missing-backup",
    "stale-user",
    "overbroad-grant",
    "terminated-user-access",
    "missing-portal-services",
    "expired-link",
];

fn memory(label: &str) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l[name.len()..].trim().to_string())
            .unwrap_or_default()
    };
    eprintln!(
        "{label}: VmRSS {} (peak so far {})",
        field("VmRSS:"),
        field("VmHWM:")
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let findings_n: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let access_n: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(4_000_000);
    let out_dir = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-workbook").into());
    std::fs::create_dir_all(&out_dir).unwrap();

    let started = Instant::now();
    let orgs = 1_000;
    let pidsls = 100_000;
    let users = 1_000_000;
    let day = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
    let mut snapshot = Snapshot {
        orgs: (0..orgs)
            .map(|i| Org {
                org_id: format!("ORG-{i:04}"),
                name: format!("Organization {i}"),
                kind: OrgKind::Provider,
                cadence: Cadence::Quarterly,
                management_emails: vec![],
                last_review_on: None,
            })
            .collect(),
        pidsls: (0..pidsls)
            .map(|i| PidSlRecord {
                pidsl: PidSl::parse(&format!("{:09}A", 110_000_000 + i)).unwrap(),
                org: (i % orgs) as u32,
                name: format!("Site {i}"),
                provider_type: "group_practice".into(),
                active: true,
            })
            .collect(),
        users: (0..users)
            .map(|i| User {
                username: format!("user{i:07}"),
                first_name: "Pat".into(),
                last_name: format!("Tester{i}"),
                middle_initial: String::new(),
                phone: String::new(),
                email: format!("user{i:07}@example.org"),
                org: (i % orgs) as u32,
                job_role: None,
                status: UserStatus::Active,
                created_on: Some(day),
                last_login_at: Some("2026-09-01".into()),
                last_login_on: Some(day),
                terms_accepted_on: Some(day),
                terminated_on: (i % 50 == 0).then_some(day),
                dob_mmdd: None,
                ssn_last4: None,
            })
            .collect(),
        access: (0..access_n)
            .map(|i| Access {
                user: (i % users) as u32,
                pidsl: ((i / 40) % pidsls) as u32,
                role: if i % 40 == 0 {
                    Role::Primary
                } else {
                    Role::Subordinate
                },
                services: Services::parse_list("PORTAL;CLAIMS;ELIGIBILITY;REPORTS").unwrap(),
                granted_on: None,
                expires_on: None,
            })
            .collect(),
        last_run_on: vec![None; orgs],
        ..Snapshot::default()
    };
    snapshot.sort_access();
    let findings: Vec<FindingRow> = (0..findings_n)
        .map(|i| {
            let rule = RuleId::parse(RULES[i % RULES.len()]).unwrap();
            FindingRow {
                run_id: "20261001-001".into(),
                fingerprint: format!("{i:024x}"),
                rule,
                severity: rule.severity(),
                status: if i % 3 == 0 {
                    FindingStatus::Open
                } else {
                    FindingStatus::New
                },
                org_id: format!("ORG-{:04}", i % orgs),
                pidsl: format!("{:09}A", 110_000_000 + i % pidsls),
                username: format!("user{:07}", i % users),
                user_name: format!("Pat Tester{}", i % users),
                detail: format!("finding number {i}: a one-line detail of typical length"),
                remediation: rule.rule().remediation.to_string(),
                first_seen: day,
                facts: String::new(),
                decision: None,
            }
        })
        .collect();
    let run = RunRecord {
        id: "20261001-001".into(),
        as_of: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        cadence: None,
        org_ids: vec![],
        scope_key: "all".into(),
        started_at: chrono::DateTime::UNIX_EPOCH,
        finished_at: None,
        status: RunStatus::Completed,
        error: None,
        out_dir: None,
        owner: None,
        counts: RunCounts::default(),
    };
    eprintln!(
        "synthetic data: {} findings, {} access rows, built in {:.1} s",
        findings.len(),
        snapshot.access.len(),
        started.elapsed().as_secs_f64()
    );
    memory("before the workbook");

    let started = Instant::now();
    let summary = Summary::new(&run, &findings, &snapshot);
    eprintln!("summary in {:.2} s", started.elapsed().as_secs_f64());
    let path = std::path::Path::new(&out_dir).join(xlsx::workbook_file_name(&run.id));
    let started = Instant::now();
    xlsx::write_workbook(
        &path,
        &WorkbookInput::new(
            &summary,
            &findings.iter().collect::<Vec<_>>(),
            &snapshot,
            chrono_tz::America::New_York,
        ),
    )
    .unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    eprintln!(
        "workbook {} ({:.0} MB) written in {:.1} s",
        path.display(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    memory("after the workbook");

    let mut own: Vec<Vec<&FindingRow>> = vec![Vec::new(); 2000];
    for f in &findings {
        let p = snapshot.pidsl_index(&f.pidsl).unwrap() as usize;
        if p < own.len() {
            own[p].push(f);
        }
    }
    let started = Instant::now();
    let mut bytes = 0;
    for (p, findings) in own.iter().enumerate() {
        let workbook =
            xlsx::decision_workbook(findings, &snapshot, p as u32, chrono_tz::America::New_York)
                .unwrap();
        bytes += workbook.len();
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{} decision workbooks ({:.1} findings, {:.0} access rows and {:.1} KB each) in {:.2} s: \
         {:.2} ms each",
        own.len(),
        own.iter().map(Vec::len).sum::<usize>() as f64 / own.len() as f64,
        (0..own.len() as u32)
            .map(|p| snapshot.access_on(p).len())
            .sum::<usize>() as f64
            / own.len() as f64,
        bytes as f64 / own.len() as f64 / 1e3,
        seconds,
        seconds * 1e3 / own.len() as f64
    );
}
