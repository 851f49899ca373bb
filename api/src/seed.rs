//! The demo shop that `cargo run` starts with: an explicit step, not a
//! migration, and only on a database without shops.

use chatshop_entity::user;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::Error;
use crate::app::AppState;
use crate::auth::Actor;
use crate::domain::channel::Channel;
use crate::domain::email::Email;
use crate::services::catalog::{self, NewProduct};
use crate::services::shops::{self, NewShop};
use crate::services::users;

/// Demo accounts; their passwords are printed in the README, so they must
/// never exist outside a demo database.
pub(crate) const DEMO_OWNER_EMAIL: &str = "owner@demo.chatshop.dev";
pub(crate) const DEMO_AGENT_EMAIL: &str = "agent@demo.chatshop.dev";
pub(crate) const DEMO_CUSTOMER_EMAIL: &str = "customer@demo.chatshop.dev";
#[cfg(test)]
const DEMO_PASSWORD: &str = "demo-password";

/// The demo password, `demo-password`, hashed once for every demo account:
/// the password is public, so a fixed salt hides nothing, and seeding then
/// hashes nothing (each hash is 15 ms and a 19 MiB work area the server
/// would carry).
const DEMO_PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$PVstpJsZrknXrguLtUYSKw$1PDJ8x4FH8bGy1707NkYzMcyIjNTB8AlkWYxcAvoYFE";

const DEMO_PRODUCTS: &[(&str, &str, &str, Option<i32>, &str)] = &[
    (
        "Espresso beans, 1 kg",
        "Dark roast, chocolate and hazelnut notes.",
        "24.90",
        Some(40),
        "BEANS-ESP-1KG",
    ),
    (
        "Filter beans, 250 g",
        "Light roast from Ethiopia, floral and bright.",
        "11.50",
        Some(60),
        "BEANS-FIL-250",
    ),
    (
        "Ceramic mug",
        "350 ml, dishwasher safe.",
        "9.00",
        Some(25),
        "MUG-CER-350",
    ),
    (
        "Pour-over kit",
        "Dripper, 100 filters and a glass server.",
        "39.00",
        Some(8),
        "KIT-POUR",
    ),
    (
        "Hand grinder",
        "Conical steel burrs, 40 settings.",
        "59.00",
        Some(3),
        "GRINDER-HAND",
    ),
    (
        "Gift card",
        "Any amount of joy, delivered by email.",
        "25.00",
        None,
        "GIFT-25",
    ),
    (
        "Cold brew bottle",
        "1 litre, with a reusable filter.",
        "19.50",
        Some(12),
        "BOTTLE-COLD",
    ),
    (
        "Barista lesson",
        "One hour with our head barista, in the shop.",
        "45.00",
        Some(1),
        "LESSON-1H",
    ),
];

/// Creates the demo shop, its owner, agent and customer, and its catalog,
/// unless some shop exists already. Returns whether it seeded.
pub(crate) async fn seed_demo_if_empty(state: &AppState) -> Result<bool, Error> {
    let db = &state.db;
    if shops::any_exists(db).await? {
        return Ok(false);
    }
    let mut accounts = Vec::new();
    for (email, name) in [
        (DEMO_OWNER_EMAIL, "Olivia Owner"),
        (DEMO_AGENT_EMAIL, "Arjun Agent"),
        (DEMO_CUSTOMER_EMAIL, "Chloe Customer"),
    ] {
        let existing = user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(db)
            .await?;
        let account = match existing {
            Some(account) => account,
            None => {
                let email = Email::parse("email", email)?;
                let password_hash = DEMO_PASSWORD_HASH.to_owned();
                users::insert_account(db, &email, name.to_owned(), password_hash).await?
            }
        };
        accounts.push(account);
    }
    let [owner, agent, _customer] = accounts.as_slice() else {
        return Err(Error::internal("demo accounts missing"));
    };
    let owner = Actor::User { id: owner.id };
    let shop = shops::create(
        db,
        &owner,
        NewShop {
            slug: "demo-coffee".to_owned(),
            name: "Demo Coffee Roasters".to_owned(),
            description: "Freshly roasted coffee, delivered. Ask us anything in the chat!"
                .to_owned(),
            currency: "USD".to_owned(),
            hosted: true,
            channels: vec![
                Channel::WhatsApp,
                Channel::Messenger,
                Channel::Instagram,
                Channel::Web,
            ],
        },
    )
    .await?;
    shops::add_member(
        db,
        &owner,
        shop.id,
        &agent.email,
        chatshop_entity::enums::ShopRole::Agent,
    )
    .await?;
    for (name, description, price, stock, sku) in DEMO_PRODUCTS {
        let product = NewProduct {
            shop_id: shop.id,
            name: (*name).to_owned(),
            description: (*description).to_owned(),
            price: (*price).to_owned(),
            stock: *stock,
            sku: Some((*sku).to_owned()),
            image_url: None,
        };
        catalog::create_product(db, &owner, product).await?;
    }
    tracing::info!(shop = "demo-coffee", "seeded the demo shop");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::password::PasswordHasher;

    #[tokio::test]
    async fn the_demo_accounts_sign_in_with_the_published_password() {
        let hasher = PasswordHasher::new(1);
        let stored = Some(DEMO_PASSWORD_HASH);
        assert!(hasher.verify(DEMO_PASSWORD, stored).await.unwrap());
        assert!(!hasher.verify("demo-passwort", stored).await.unwrap());
    }
}
