//! Who may do what in a shop. Pure rules over a caller's membership; the
//! services look the membership up and ask here.

use chatshop_entity::enums::ShopRole;

use crate::Error;

/// What an operation on a shop requires of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShopPermission {
    /// Change the shop's settings or add members: owners only.
    Manage,
    /// Edit the catalog and answer customers: any member.
    Work,
}

/// Allows or refuses an operation given the caller's role in the shop
/// (`None` when the caller is not a member).
pub fn require(role: Option<ShopRole>, permission: ShopPermission) -> Result<ShopRole, Error> {
    match (role, permission) {
        (Some(ShopRole::Owner), _) => Ok(ShopRole::Owner),
        (Some(ShopRole::Agent), ShopPermission::Work) => Ok(ShopRole::Agent),
        (Some(ShopRole::Agent), ShopPermission::Manage) | (None, _) => Err(Error::Forbidden),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_may_do_everything() {
        assert!(require(Some(ShopRole::Owner), ShopPermission::Manage).is_ok());
        assert!(require(Some(ShopRole::Owner), ShopPermission::Work).is_ok());
    }

    #[test]
    fn agents_may_work_but_not_manage() {
        assert!(require(Some(ShopRole::Agent), ShopPermission::Work).is_ok());
        assert!(matches!(
            require(Some(ShopRole::Agent), ShopPermission::Manage),
            Err(Error::Forbidden)
        ));
    }

    #[test]
    fn strangers_may_do_nothing() {
        assert!(matches!(
            require(None, ShopPermission::Work),
            Err(Error::Forbidden)
        ));
    }
}
