//! Credits per node kind, from the seed's price table (PRODUCT.md §5.2), and the 10 %
//! membership discount for users who share training data (§5.3; it applies to the membership,
//! not to node credits).

use aktion_api::{PriceItem, Pricing};

/// Percent off the membership price for users opted in to data sharing.
pub const DATA_SHARING_DISCOUNT_PERCENT: u32 = 10;

/// (node kind, label, credits, typical duration) as in the seed's "Credit Costs" table.
pub const PRICES: &[(&str, &str, i64, &str)] = &[
    ("character", "Character", 2, "~30s"),
    ("sketch_to_image", "Sketch", 1, "~10s"),
    ("t2i", "t2i", 2, "~30s"),
    ("i2i", "i2i", 5, "~30s"),
    ("t2v", "t2v", 5, "~60s"),
    ("i2v", "i2v", 8, "~2min"),
    ("lip_sync", "Lip Sync", 3, "~45s"),
    ("action_pose", "Action Pose", 2, "~30s"),
    ("coherent_scene", "Epic Scene", 10, "10-15min"),
    ("sequence", "Sequence", 5, "~5min"),
];

/// List price of a node kind in credits, if the server prices it.
pub fn credits_for(node_kind: &str) -> Option<i64> {
    PRICES
        .iter()
        .find(|(kind, ..)| *kind == node_kind)
        .map(|(_, _, credits, _)| *credits)
}

/// The price list as the caller sees it.
pub fn pricing(opted_in: bool) -> Pricing {
    let discount = if opted_in {
        DATA_SHARING_DISCOUNT_PERCENT
    } else {
        0
    };
    let items = PRICES
        .iter()
        .map(|(kind, label, credits, duration)| PriceItem {
            node_kind: (*kind).to_owned(),
            label: (*label).to_owned(),
            credits: *credits,
            typical_duration: (*duration).to_owned(),
        })
        .collect();
    Pricing {
        items,
        discount_percent: discount,
        discount_reason: if opted_in {
            "10 % membership discount for sharing training data".to_owned()
        } else {
            "opt in to training-data sharing for a 10 % membership discount".to_owned()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_prices_and_discount() {
        assert_eq!(credits_for("coherent_scene"), Some(10));
        assert_eq!(credits_for("sketch_to_image"), Some(1));
        assert_eq!(credits_for("nope"), None);
        assert_eq!(pricing(false).discount_percent, 0);
        let member = pricing(true);
        assert_eq!(member.discount_percent, 10);
        assert_eq!(
            member.items,
            pricing(false).items,
            "node credits are not discounted"
        );
        assert_eq!(member.items.len(), 10);
    }
}
