//! Credits per node kind, from the seed's price table (PRODUCT.md §5.2), and the 10 %
//! membership discount for users who share training data (§5.3; it applies to the membership,
//! not to node credits).

use aktion_api::{PriceItem, Pricing};

/// Percent off the membership price for users opted in to data sharing.
pub const DATA_SHARING_DISCOUNT_PERCENT: u32 = 10;

/// (node kind, label, typical duration) as in the seed's "Credit Costs" table. The credits
/// come from the node catalog, the one source of a kind's price for the app and the server.
pub const PRICE_LABELS: &[(&str, &str, &str)] = &[
    ("character", "Character", "~30s"),
    ("sketch_to_image", "Sketch", "~10s"),
    ("t2i", "t2i", "~30s"),
    ("i2i", "i2i", "~30s"),
    ("t2v", "t2v", "~60s"),
    ("i2v", "i2v", "~2min"),
    ("lip_sync", "Lip Sync", "~45s"),
    ("action_pose", "Action Pose", "~30s"),
    ("coherent_scene", "Epic Scene", "10-15min"),
    ("sequence", "Sequence", "~5min"),
];

/// List price of a node kind in credits, if the server prices it: the catalog's credits of a
/// generating kind.
pub fn credits_for(node_kind: &str) -> Option<i64> {
    aktion_graph::Catalog::builtin()
        .get(node_kind)
        .filter(|k| k.is_generating())
        .map(|k| i64::from(k.credits))
}

/// The price list as the caller sees it.
pub fn pricing(opted_in: bool) -> Pricing {
    let discount = if opted_in {
        DATA_SHARING_DISCOUNT_PERCENT
    } else {
        0
    };
    let items = PRICE_LABELS
        .iter()
        .filter_map(|(kind, label, duration)| {
            Some(PriceItem {
                node_kind: (*kind).to_owned(),
                label: (*label).to_owned(),
                credits: credits_for(kind)?,
                typical_duration: (*duration).to_owned(),
            })
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

    /// The seed's price table, tied to the catalog both the app and the server price from.
    #[test]
    fn every_generating_kind_is_priced_as_the_seed_lists_it() {
        let seed: &[(&str, i64)] = &[
            ("character", 2),
            ("sketch_to_image", 1),
            ("t2i", 2),
            ("i2i", 5),
            ("t2v", 5),
            ("i2v", 8),
            ("lip_sync", 3),
            ("action_pose", 2),
            ("coherent_scene", 10),
            ("sequence", 5),
        ];
        for (kind, credits) in seed {
            assert_eq!(credits_for(kind), Some(*credits), "{kind}");
        }
        let generating: Vec<&str> = aktion_graph::Catalog::builtin()
            .iter()
            .filter(|k| k.is_generating())
            .map(|k| k.id.as_str())
            .collect();
        let listed: Vec<&str> = PRICE_LABELS.iter().map(|(k, ..)| *k).collect();
        for kind in &generating {
            assert!(listed.contains(kind), "{kind} has no row in the price list");
        }
        assert_eq!(listed.len(), generating.len());
        assert_eq!(credits_for("prompt"), None, "a source kind is not priced");
    }
}
