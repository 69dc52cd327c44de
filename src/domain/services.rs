//! The POSC service catalogue: codes, display names and a compact set type.
//!
//! The store keeps services as a bit set, so an access row costs one integer and the rules
//! compare services with bit operations instead of string lists.

use std::fmt;

/// The services only a Primary User and the backup may hold (Primary Portal User and Manage
/// Subordinate Accounts).
pub const ADMIN_SERVICES: Services =
    Services::of(&[ServiceCode::PrimaryUser, ServiceCode::ManageSubordinates]);

/// The most users a PID/SL may have holding PRIMARY_USER: the Primary User and the backup
/// (the Update Subordinate panel: "note that there is a limit of two Primary users").
pub const MAX_PRIMARY_USER_HOLDERS: usize = 2;

/// One POSC service, by the code the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceCode {
    PrimaryUser,
    ManageSubordinates,
    Portal,
    Claims,
    Reports,
    Financial,
    ScoPace,
    Referrals,
    Batch,
    ServiceAuth,
    Contracts,
    Eligibility,
    Mmq,
    Profile,
}

/// The catalogue, in the SPEC's order: code, POSC display names (the first is the canonical one).
const CATALOGUE: [(ServiceCode, &str, &[&str]); 14] = [
    (
        ServiceCode::PrimaryUser,
        "PRIMARY_USER",
        &["Primary Portal User"],
    ),
    (
        ServiceCode::ManageSubordinates,
        "MANAGE_SUBORDINATES",
        &["Manage Subordinate Accounts"],
    ),
    (ServiceCode::Portal, "PORTAL", &["Portal Services"]),
    (
        ServiceCode::Claims,
        "CLAIMS",
        &["Claims Submission and Status"],
    ),
    (ServiceCode::Reports, "REPORTS", &["View Provider Reports"]),
    (
        ServiceCode::Financial,
        "FINANCIAL",
        &["View Financial Data"],
    ),
    (
        ServiceCode::ScoPace,
        "SCO_PACE",
        &["Manage SCO and PACE Members"],
    ),
    (
        ServiceCode::Referrals,
        "REFERRALS",
        &["Manage Referrals Information"],
    ),
    (
        ServiceCode::Batch,
        "BATCH",
        &["Batch File Submit and Download"],
    ),
    (
        ServiceCode::ServiceAuth,
        "SERVICE_AUTH",
        &["Service Authorizations"],
    ),
    (
        ServiceCode::Contracts,
        "CONTRACTS",
        &["View Provider Contracts"],
    ),
    (
        ServiceCode::Eligibility,
        "ELIGIBILITY",
        &["Manage Member Eligibility"],
    ),
    (ServiceCode::Mmq, "MMQ", &["Manage MMQ"]),
    (
        ServiceCode::Profile,
        "PROFILE",
        &[
            "Manage Business Partner Profile",
            "Manage Provider Profile Information",
        ],
    ),
];

impl ServiceCode {
    pub const ALL: [ServiceCode; 14] = {
        let mut all = [ServiceCode::PrimaryUser; 14];
        let mut i = 0;
        while i < 14 {
            all[i] = CATALOGUE[i].0;
            i += 1;
        }
        all
    };

    /// Accepts a code or a POSC display name, case-insensitively.
    pub fn parse(input: &str) -> Result<Self, String> {
        let wanted = input.trim();
        CATALOGUE
            .iter()
            .find(|(_, code, names)| {
                code.eq_ignore_ascii_case(wanted) || names.iter().any(|n| n.eq_ignore_ascii_case(wanted))
            })
            .map(|(service, _, _)| *service)
            .ok_or_else(|| {
                format!("unknown service {wanted:?}; expected a code such as CLAIMS or a POSC display name such as \"Claims Submission and Status\"")
            })
    }

    pub fn code(self) -> &'static str {
        CATALOGUE[self as usize].1
    }

    pub fn display_name(self) -> &'static str {
        CATALOGUE[self as usize].2[0]
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for ServiceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A set of services, one bit per catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Services(u16);

impl Services {
    pub const EMPTY: Services = Services(0);

    /// Parses a `;`-separated list of codes or display names; at least one is required.
    pub fn parse_list(input: &str) -> Result<Self, String> {
        let mut set = Services::EMPTY;
        for part in input.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            set.insert(ServiceCode::parse(part)?);
        }
        if set.is_empty() {
            return Err("at least one service is required".into());
        }
        Ok(set)
    }

    pub fn from_bits(bits: i64) -> Result<Self, String> {
        u16::try_from(bits)
            .ok()
            .filter(|b| *b < (1 << ServiceCode::ALL.len()))
            .map(Services)
            .ok_or_else(|| format!("invalid service bit set {bits}"))
    }

    pub fn bits(self) -> i64 {
        i64::from(self.0)
    }

    pub const fn of(codes: &[ServiceCode]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < codes.len() {
            bits |= codes[i].bit();
            i += 1;
        }
        Services(bits)
    }

    pub fn insert(&mut self, code: ServiceCode) {
        self.0 |= code.bit();
    }

    pub fn remove(&mut self, code: ServiceCode) {
        self.0 &= !code.bit();
    }

    pub const fn contains(self, code: ServiceCode) -> bool {
        self.0 & code.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub const fn union(self, other: Services) -> Services {
        Services(self.0 | other.0)
    }

    /// The services in both sets.
    pub const fn intersection(self, other: Services) -> Services {
        Services(self.0 & other.0)
    }

    /// The services in `self` that are not in `other`.
    pub const fn minus(self, other: Services) -> Services {
        Services(self.0 & !other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = ServiceCode> {
        ServiceCode::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    /// `Claims Submission and Status, View Financial Data`: the POSC's names, as the Update
    /// Subordinate panel lists them in Available Services and Assigned Services.
    pub fn display_names(self) -> String {
        self.iter()
            .map(ServiceCode::display_name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Services {
    /// `;`-separated codes in catalogue order, as the CSV inputs write them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, code) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            f.write_str(code.code())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_display_names_are_accepted_case_insensitively() {
        assert_eq!(ServiceCode::parse("claims"), Ok(ServiceCode::Claims));
        assert_eq!(
            ServiceCode::parse("Primary Portal User"),
            Ok(ServiceCode::PrimaryUser)
        );
        assert_eq!(
            ServiceCode::parse("manage provider profile information"),
            Ok(ServiceCode::Profile)
        );
    }

    #[test]
    fn unknown_service_is_rejected() {
        assert!(ServiceCode::parse("Launch Missiles").is_err());
        assert!(Services::parse_list("PORTAL;Launch Missiles").is_err());
    }

    #[test]
    fn empty_list_is_rejected() {
        assert!(Services::parse_list(" ; ").is_err());
    }

    #[test]
    fn set_round_trips_through_bits_and_text() {
        let set = Services::parse_list("Portal Services;CLAIMS;mmq").unwrap();
        assert_eq!(Services::from_bits(set.bits()), Ok(set));
        assert_eq!(set.to_string(), "PORTAL;CLAIMS;MMQ");
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn display_names_are_the_panels_words() {
        let set = Services::parse_list("CLAIMS;FINANCIAL").unwrap();
        assert_eq!(
            set.display_names(),
            "Claims Submission and Status, View Financial Data"
        );
    }
}
