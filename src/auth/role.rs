//! [`Role`]: what a user may do. Stored and sent as lowercase text.

use std::fmt;
use std::str::FromStr;

/// A user's role. Every API endpoint and websocket names the roles it
/// admits; there is no implicit hierarchy (an admin is not silently a
/// supervisor), so each endpoint's list is the whole truth.
///
/// Text form (database, JSON, CLI): `agent`, `supervisor`, `manager`,
/// `admin`.
///
/// ```
/// use hibiki::auth::Role;
/// assert_eq!("supervisor".parse::<Role>(), Ok(Role::Supervisor));
/// assert_eq!(Role::Admin.to_string(), "admin");
/// assert!("root".parse::<Role>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Takes calls.
    Agent,
    /// Watches and helps a team of agents live.
    Supervisor,
    /// Reports and configuration of queues and teams.
    Manager,
    /// Everything, including users.
    Admin,
}

impl Role {
    /// Every role, from the least to the most privileged.
    pub const ALL: [Role; 4] = [Role::Agent, Role::Supervisor, Role::Manager, Role::Admin];

    /// The text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: expected agent, supervisor, manager or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    /// Exact lowercase names only: what the database and the API store.
    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_text_and_json() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{role}\""));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
    }

    #[test]
    fn unknown_and_differently_cased_names_are_refused() {
        for bad in ["", "Admin", "ADMIN", " admin", "root", "agents"] {
            let err = bad.parse::<Role>().unwrap_err();
            assert_eq!(err, UnknownRole(bad.to_owned()));
            assert!(err.to_string().contains("expected agent"), "{err}");
        }
        assert!(serde_json::from_str::<Role>("\"root\"").is_err());
    }
}
