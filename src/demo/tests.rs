use super::scale::{write_services, JOB_ROLES};
use super::*;
use crate::domain::{PidSl, Services};
use std::collections::{BTreeMap, BTreeSet};

const FILES: [&str; 5] = [
    "organizations.csv",
    "pidsls.csv",
    "users.csv",
    "access.csv",
    "roster.csv",
];

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()
}

/// The rows of one file, as maps from column name to cell.
fn rows(dir: &Path, file: &str) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(dir.join(file)).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

fn header(dir: &Path, file: &str) -> Vec<String> {
    csv::Reader::from_path(dir.join(file))
        .unwrap()
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect()
}

fn tour() -> (tempfile::TempDir, DemoCounts) {
    let dir = tempfile::tempdir().unwrap();
    let counts = write_tour(dir.path(), as_of()).unwrap();
    (dir, counts)
}

/// Checks what both generators promise: keys exist, services parse, usernames are unique.
fn assert_consistent(dir: &Path) {
    let orgs: BTreeSet<String> = rows(dir, "organizations.csv")
        .into_iter()
        .map(|r| r["org_id"].clone())
        .collect();
    let mut pidsls = BTreeSet::new();
    for row in rows(dir, "pidsls.csv") {
        assert!(
            PidSl::parse(&row["pidsl"]).is_ok(),
            "bad PID/SL {}",
            row["pidsl"]
        );
        assert!(
            pidsls.insert(row["pidsl"].clone()),
            "PID/SL {} twice",
            row["pidsl"]
        );
        assert!(
            orgs.contains(&row["org_id"]),
            "PID/SL {} of unknown org",
            row["pidsl"]
        );
    }
    let mut users = BTreeSet::new();
    for row in rows(dir, "users.csv") {
        assert!(
            users.insert(row["username"].to_lowercase()),
            "username {} twice",
            row["username"]
        );
        assert!(
            orgs.contains(&row["org_id"]),
            "user {} of unknown org",
            row["username"]
        );
    }
    let mut pairs = BTreeSet::new();
    for row in rows(dir, "access.csv") {
        assert!(
            users.contains(&row["username"].to_lowercase()),
            "access for unknown user {}",
            row["username"]
        );
        assert!(
            pidsls.contains(&row["pidsl"]),
            "access on unknown PID/SL {}",
            row["pidsl"]
        );
        assert!(
            pairs.insert((row["username"].clone(), row["pidsl"].clone())),
            "pair twice: {row:?}"
        );
        if let Err(e) = Services::parse_list(&row["services"]) {
            panic!("services of {} on {}: {e}", row["username"], row["pidsl"]);
        }
    }
}

#[test]
fn the_tour_writes_all_five_files_with_the_spec_headers() {
    let (dir, counts) = tour();
    let expected: [&[&str]; 5] = [
        &ORGANIZATIONS_HEADER,
        &PIDSLS_HEADER,
        &USERS_HEADER,
        &ACCESS_HEADER,
        &ROSTER_HEADER,
    ];
    for (file, columns) in FILES.iter().zip(expected) {
        assert_eq!(header(dir.path(), file), columns, "{file}");
    }
    assert_eq!(counts.organizations, 5);
    assert_eq!(counts.pidsls, 18);
    assert!((60..=150).contains(&counts.users), "{} users", counts.users);
    assert!(
        counts.access_rows > counts.users,
        "{} access rows",
        counts.access_rows
    );
    assert_eq!(counts.roster_rows, 3);
    assert_eq!(rows(dir.path(), "users.csv").len(), counts.users);
    assert_eq!(rows(dir.path(), "access.csv").len(), counts.access_rows);
}

#[test]
fn every_access_row_of_the_tour_names_a_known_user_and_pidsl_and_parses() {
    let (dir, _) = tour();
    assert_consistent(dir.path());
}

#[test]
fn the_tour_mixes_service_codes_and_display_names() {
    let (dir, _) = tour();
    let services: Vec<String> = rows(dir.path(), "access.csv")
        .into_iter()
        .map(|r| r["services"].clone())
        .collect();
    assert!(services.iter().any(|s| s.contains("Primary Portal User")));
    assert!(services.iter().any(|s| s.starts_with("PRIMARY_USER")));
}

#[test]
fn the_tour_dates_follow_as_of() {
    let dir = tempfile::tempdir().unwrap();
    write_tour(dir.path(), NaiveDate::from_ymd_opt(2027, 3, 15).unwrap()).unwrap();
    let users = rows(dir.path(), "users.csv");
    let cjones = users.iter().find(|u| u["username"] == "cjones").unwrap();
    assert_eq!(cjones["last_login_at"], "2026-12-14"); // 91 days before
    let zlate = users.iter().find(|u| u["username"] == "zlate").unwrap();
    assert_eq!(zlate["last_login_at"], "2026-12-15T02:30:00Z");
}

#[test]
fn the_planted_problems_cover_every_rule_and_name_real_users_and_pidsls() {
    let (dir, _) = tour();
    let users: BTreeMap<String, String> = rows(dir.path(), "users.csv")
        .into_iter()
        .map(|r| (r["username"].clone(), r["org_id"].clone()))
        .collect();
    let pidsls: BTreeMap<String, String> = rows(dir.path(), "pidsls.csv")
        .into_iter()
        .map(|r| (r["pidsl"].clone(), r["org_id"].clone()))
        .collect();
    let rules: BTreeSet<&str> = TOUR_PLANTED.iter().map(|p| p.0).collect();
    let all: BTreeSet<&str> = crate::rules::RULES.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(rules, all);
    for (rule, org, pidsl, username) in TOUR_PLANTED {
        if !pidsl.is_empty() {
            assert_eq!(
                pidsls.get(*pidsl).map(String::as_str),
                Some(*org),
                "{rule} {pidsl}"
            );
        } else if !username.is_empty() {
            assert_eq!(
                users.get(*username).map(String::as_str),
                Some(*org),
                "{rule} {username}"
            );
        }
        if !username.is_empty() {
            assert!(users.contains_key(*username), "{rule}: no user {username}");
        }
    }
}

#[test]
fn the_tour_uses_only_configured_job_roles_and_example_addresses() {
    let (dir, _) = tour();
    let roles: BTreeSet<&str> = JOB_ROLES.iter().map(|r| r.0).collect();
    for user in rows(dir.path(), "users.csv") {
        assert!(
            user["job_role"].is_empty() || roles.contains(user["job_role"].as_str()),
            "{user:?}"
        );
        assert!(user["email"].ends_with(".example"), "{}", user["email"]);
        assert!(user["phone"].is_empty() || user["phone"].starts_with("617-555-01"));
    }
}

#[test]
fn the_job_role_profiles_match_the_default_configuration() {
    let settings: toml::Value = toml::from_str(include_str!("../../config/default.toml")).unwrap();
    let configured = settings["roles"].as_table().unwrap();
    assert_eq!(configured.len(), JOB_ROLES.len());
    for (name, profile) in JOB_ROLES {
        let codes: Vec<&str> = configured[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut text = String::new();
        write_services(&mut text, profile);
        assert_eq!(
            Services::parse_list(&codes.join(";")),
            Services::parse_list(&text),
            "{name}"
        );
    }
}

#[test]
fn the_scale_snapshot_is_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let counts = write_scale(dir.path(), 200, ScaleProfile::Default, 1, as_of()).unwrap();
    assert_consistent(dir.path());
    for (file, columns) in FILES.iter().zip([
        &ORGANIZATIONS_HEADER[..],
        &PIDSLS_HEADER[..],
        &USERS_HEADER[..],
        &ACCESS_HEADER[..],
        &ROSTER_HEADER[..],
    ]) {
        assert_eq!(header(dir.path(), file), columns, "{file}");
    }
    assert_eq!(counts.pidsls, 200);
    assert_eq!(rows(dir.path(), "access.csv").len(), counts.access_rows);
}

#[test]
fn the_scale_snapshot_has_about_ten_users_and_forty_access_rows_per_pidsl() {
    let dir = tempfile::tempdir().unwrap();
    let counts = write_scale(dir.path(), 200, ScaleProfile::Default, 3, as_of()).unwrap();
    let users_per = counts.users as f64 / 200.0;
    let rows_per = counts.access_rows as f64 / 200.0;
    assert!(
        (9.0..=11.0).contains(&users_per),
        "{users_per} users per PID/SL"
    );
    assert!(
        (35.0..=45.0).contains(&rows_per),
        "{rows_per} access rows per PID/SL"
    );
}

#[test]
fn the_scale_snapshot_has_a_primary_on_every_pidsl_and_a_few_planted_problems() {
    let dir = tempfile::tempdir().unwrap();
    write_scale(dir.path(), 2000, ScaleProfile::Default, 11, as_of()).unwrap();
    let access = rows(dir.path(), "access.csv");
    let mut primaries: BTreeMap<String, usize> = BTreeMap::new();
    let mut backups = BTreeSet::new();
    for row in &access {
        match row["role"].as_str() {
            "primary" => *primaries.entry(row["pidsl"].clone()).or_default() += 1,
            "backup" => {
                backups.insert(row["pidsl"].clone());
            }
            _ => {}
        }
    }
    assert_eq!(primaries.len(), 2000);
    let doubled = primaries.values().filter(|n| **n > 1).count();
    assert!(doubled < 20, "{doubled} PID/SLs with two primaries");
    assert!(
        (1800..2000).contains(&backups.len()),
        "{} PID/SLs with a backup",
        backups.len()
    );
    let users = rows(dir.path(), "users.csv");
    let terminated = users
        .iter()
        .filter(|u| !u["terminated_on"].is_empty())
        .count();
    assert!(
        terminated > 0 && terminated < users.len() / 20,
        "{terminated} terminated"
    );
    let expired = access
        .iter()
        .filter(|r| !r["expires_on"].is_empty() && r["expires_on"].as_str() <= "2026-10-01")
        .count();
    assert!(
        expired > 0 && expired < access.len() / 50,
        "{expired} expired links"
    );
    let mut emails = BTreeSet::new();
    let shared = users
        .iter()
        .filter(|u| !emails.insert(u["email"].to_lowercase()))
        .count();
    assert!(shared < users.len() / 100, "{shared} shared emails");
    let types: BTreeSet<String> = rows(dir.path(), "pidsls.csv")
        .into_iter()
        .map(|r| r["provider_type"].clone())
        .collect();
    for wanted in ["ltc", "pace", "sco", "hospital"] {
        assert!(types.contains(wanted), "no {wanted} PID/SL");
    }
}

fn read_all(dir: &Path) -> Vec<Vec<u8>> {
    FILES
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_files_byte_for_byte() {
    let (one, two, other) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    write_scale(one.path(), 50, ScaleProfile::Default, 7, as_of()).unwrap();
    write_scale(two.path(), 50, ScaleProfile::Default, 7, as_of()).unwrap();
    write_scale(other.path(), 50, ScaleProfile::Default, 8, as_of()).unwrap();
    assert_eq!(read_all(one.path()), read_all(two.path()));
    let (a, b) = (read_all(one.path()), read_all(other.path()));
    assert_ne!(a[2], b[2], "users.csv");
    assert_ne!(a[3], b[3], "access.csv");
}

/// Run with `cargo test --release --lib demo -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark: writes about 540 MB"]
fn a_hundred_thousand_pidsls_are_written_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let counts = write_scale(dir.path(), 100_000, ScaleProfile::Default, 42, as_of()).unwrap();
    let elapsed = start.elapsed();
    println!("{counts:?} in {elapsed:.2?}");
    for file in FILES {
        println!(
            "{file}: {} bytes",
            std::fs::metadata(dir.path().join(file)).unwrap().len()
        );
    }
}

/// The SHA-256 of a snapshot's five files, one after the other.
fn digest(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for file in read_all(dir) {
        hash.update(file);
    }
    format!("{:x}", hash.finalize())
}

#[test]
fn the_default_profile_writes_the_files_it_wrote_before_the_dense_profile_existed() {
    // Pinned before the dense profile was added: the benchmarks of BENCHMARKS.md stay comparable.
    for (seed, want) in [
        (
            7,
            "02626e7df5812dda1b0c667cc02f7744e0a94231b73361450fb48079dc71d0ea",
        ),
        (
            42,
            "5923c820a5df7b4d4d583a711f047be0e9249965642b73e2d8f0cbd18036f85f",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let counts = write_scale(dir.path(), 300, ScaleProfile::Default, seed, as_of()).unwrap();
        assert_eq!((counts.pidsls, counts.users), (300, 3000));
        assert_eq!(digest(dir.path()), want, "seed {seed}");
    }
}

#[test]
fn the_dense_profile_has_organizations_of_five_pidsls_with_ten_users_and_forty_rows_each() {
    let dir = tempfile::tempdir().unwrap();
    let counts = write_scale(dir.path(), 1000, ScaleProfile::Dense, 3, as_of()).unwrap();
    assert_consistent(dir.path());
    assert_eq!(
        (counts.organizations, counts.pidsls, counts.users),
        (200, 1000, 10_000)
    );
    let mut per_org: BTreeMap<String, usize> = BTreeMap::new();
    for row in rows(dir.path(), "pidsls.csv") {
        *per_org.entry(row["org_id"].clone()).or_default() += 1;
    }
    assert!(per_org.values().all(|n| *n == 5), "{per_org:?}");
    let rows_per = counts.access_rows as f64 / 1000.0;
    assert!(
        (38.0..=42.0).contains(&rows_per),
        "{rows_per} access rows per PID/SL"
    );
    // Every user works for the organization whose PID/SLs they have access to.
    let org_of_pidsl: BTreeMap<String, String> = rows(dir.path(), "pidsls.csv")
        .into_iter()
        .map(|r| (r["pidsl"].clone(), r["org_id"].clone()))
        .collect();
    let org_of_user: BTreeMap<String, String> = rows(dir.path(), "users.csv")
        .into_iter()
        .map(|r| (r["username"].clone(), r["org_id"].clone()))
        .collect();
    for row in rows(dir.path(), "access.csv") {
        assert_eq!(
            org_of_pidsl[&row["pidsl"]], org_of_user[&row["username"]],
            "{row:?}"
        );
    }
}

#[test]
fn the_dense_profile_ends_with_a_smaller_organization_when_n_is_not_a_multiple_of_five() {
    let dir = tempfile::tempdir().unwrap();
    let counts = write_scale(dir.path(), 12, ScaleProfile::Dense, 1, as_of()).unwrap();
    assert_consistent(dir.path());
    assert_eq!(
        (counts.organizations, counts.pidsls, counts.users),
        (3, 12, 120)
    );
}

#[test]
fn the_dense_profile_gives_the_same_files_for_the_same_seed() {
    let (one, two, other) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    write_scale(one.path(), 50, ScaleProfile::Dense, 7, as_of()).unwrap();
    write_scale(two.path(), 50, ScaleProfile::Dense, 7, as_of()).unwrap();
    write_scale(other.path(), 50, ScaleProfile::Dense, 8, as_of()).unwrap();
    assert_eq!(read_all(one.path()), read_all(two.path()));
    let (a, b) = (read_all(one.path()), read_all(other.path()));
    assert_ne!(a[2], b[2], "users.csv");
    assert_ne!(a[3], b[3], "access.csv");
}
