//! Customers: who is calling. This module owns the rules around the
//! `customers` data the store keeps (`crate::store::Customer`): phone
//! numbers normalised to E.164 before they are stored or looked up
//! ([`normalise_phone`], `phone.rs`, with the region table and why it is
//! hand-written), and the demo customers the embedded default seeds on
//! its first start ([`seed_demo_customers`]), and the CSV import
//! (`import.rs`, [`import::import_csv`]).
//!
//! The IVR's caller-id lookup is
//! `store.customer_by_phone(&normalise_phone(from_user, &config.customers.default_region)?)`;
//! `customers.default_region` (`docs/configuration.md`) says how national
//! numbers read. An external CRM may add its record to the screen pop
//! (`crm.rs`, `[crm]`).

pub mod crm;
pub mod import;
mod phone;

pub use phone::{normalise_phone, region, Region, REGIONS};

use crate::store::{Customer, Store, StoreError};

/// What an IVR `lookup` with `source = "customer"` finds: the customer's
/// `id`, `name`, `name_prompt` and `email` as a JSON object (its `map`
/// keys are these field names).
pub async fn lookup(
    store: &Store,
    caller: &str,
    default_region: &str,
) -> crate::ivr::run::LookupResult {
    use crate::ivr::run::LookupResult;
    let Some(number) = normalise_phone(caller, default_region) else {
        return LookupResult::NotFound;
    };
    match store.customer_by_phone(&number).await {
        Ok(Some(c)) => LookupResult::Found(serde_json::json!({
            "id": c.id,
            "name": c.name,
            "name_prompt": c.name_prompt,
            "email": c.email,
        })),
        Ok(None) => LookupResult::NotFound,
        Err(e) => {
            tracing::warn!(error = %e, "customer lookup failed");
            LookupResult::Failed(format!("database: {e}"))
        }
    }
}

/// The demo customers: (id, name, name prompt, E.164 numbers). Their name
/// prompts are in `ivr-flows/prompts/en/`.
pub const DEMO_CUSTOMERS: [(&str, &str, Option<&str>, &[&str]); 3] = [
    (
        "demo-hanako-yamada",
        "Hanako Yamada",
        Some("customer-hanako-yamada"),
        &["+81312345678", "+819012345678"],
    ),
    (
        "demo-john-smith",
        "John Smith",
        Some("customer-john-smith"),
        &["+14155550100"],
    ),
    ("demo-taro-suzuki", "Taro Suzuki", None, &["+81612345678"]),
];

/// When no customer exists, creates [`DEMO_CUSTOMERS`]; returns how many
/// were created (0 when there were customers already, so a second start,
/// or a database an operator filled, is left alone).
pub async fn seed_demo_customers(store: &Store, now_ms: i64) -> Result<usize, StoreError> {
    if store.count_customers().await? > 0 {
        return Ok(0);
    }
    let mut created = 0;
    for (id, name, name_prompt, phones) in DEMO_CUSTOMERS {
        let customer = Customer {
            id: id.to_owned(),
            name: name.to_owned(),
            name_prompt: name_prompt.map(str::to_owned),
            email: None,
            notes: "demo customer (embedded default)".to_owned(),
            phones: phones.iter().map(|p| (*p).to_owned()).collect(),
        };
        match store.create_customer(&customer, now_ms).await {
            Ok(()) => created += 1,
            // Another node seeding the same database at the same moment.
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_numbers_are_already_e164() {
        for (_, _, _, phones) in DEMO_CUSTOMERS {
            for p in phones {
                assert_eq!(normalise_phone(p, "JP").as_deref(), Some(*p));
            }
        }
    }

    #[tokio::test]
    async fn demo_customers_are_seeded_once_and_found_by_any_of_their_numbers() {
        let store = Store::connect("sqlite::memory:", 1).await.unwrap();
        store.migrate().await.unwrap();
        assert_eq!(seed_demo_customers(&store, 5).await.unwrap(), 3);
        assert_eq!(seed_demo_customers(&store, 6).await.unwrap(), 0);
        assert_eq!(store.count_customers().await.unwrap(), 3);
        let hanako = store
            .customer_by_phone(&normalise_phone("090-1234-5678", "JP").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(hanako.name, "Hanako Yamada");
        assert_eq!(
            hanako.name_prompt.as_deref(),
            Some("customer-hanako-yamada")
        );
        assert_eq!(hanako.phones, ["+81312345678", "+819012345678"]);
        let taro = store
            .customer_by_phone("+81612345678")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (taro.name.as_str(), taro.name_prompt),
            ("Taro Suzuki", None)
        );
        let john = store
            .customer_by_phone("+14155550100")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(john.name_prompt.as_deref(), Some("customer-john-smith"));
        assert_eq!(
            store.customer_by_phone("+815012345678").await.unwrap(),
            None
        );
    }
}
