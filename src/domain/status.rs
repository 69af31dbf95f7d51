use super::ParseError;

/// The life cycle of an order, spelled as the original service spelled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Placed,
    Processing,
    Shipped,
    Delivered,
    Cancel,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] = [
        Self::Placed,
        Self::Processing,
        Self::Shipped,
        Self::Delivered,
        Self::Cancel,
    ];

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == raw)
            .ok_or_else(|| {
                ParseError::new("must be one of PLACED, PROCESSING, SHIPPED, DELIVERED, CANCEL")
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "PLACED",
            Self::Processing => "PROCESSING",
            Self::Shipped => "SHIPPED",
            Self::Delivered => "DELIVERED",
            Self::Cancel => "CANCEL",
        }
    }

    /// The statuses from which an order may move to `self`. The store makes
    /// this a condition of the write, so the check and the move are atomic.
    pub fn allowed_predecessors(self) -> &'static [OrderStatus] {
        match self {
            Self::Placed => &[],
            Self::Processing => &[Self::Placed],
            Self::Shipped => &[Self::Placed, Self::Processing],
            Self::Delivered => &[Self::Shipped],
            Self::Cancel => &[Self::Placed, Self::Processing],
        }
    }
}

/// An order's status as stored: one of the state machine's, or another
/// string, which only the original system wrote (it took any string a
/// client sent). Another status is shown as it is stored; only staff can
/// move an order out of it, to any status of the state machine (see
/// `Store::move_order`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StoredStatus {
    Known(OrderStatus),
    Other(String),
}

impl StoredStatus {
    pub fn read(raw: &str) -> Self {
        match OrderStatus::parse(raw) {
            Ok(status) => Self::Known(status),
            Err(_) => Self::Other(raw.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Known(status) => status.as_str(),
            Self::Other(raw) => raw,
        }
    }

    pub fn known(&self) -> Option<OrderStatus> {
        match self {
            Self::Known(status) => Some(*status),
            Self::Other(_) => None,
        }
    }
}

impl From<OrderStatus> for StoredStatus {
    fn from(status: OrderStatus) -> Self {
        Self::Known(status)
    }
}

impl PartialEq<OrderStatus> for StoredStatus {
    fn eq(&self, other: &OrderStatus) -> bool {
        self.known() == Some(*other)
    }
}

impl std::fmt::Display for StoredStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn round_trips_every_status() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Ok(status));
        }
        assert!(OrderStatus::parse("placed").is_err());
        assert!(OrderStatus::parse("CANCELLED").is_err());
    }

    #[test]
    fn stores_any_other_status_as_it_was_written() {
        assert_eq!(StoredStatus::read("SHIPPED"), Shipped);
        let other = StoredStatus::read("shipped");
        assert_eq!(other.known(), None);
        assert_eq!(other.as_str(), "shipped");
    }

    #[test]
    fn allows_exactly_the_documented_moves() {
        let allowed = [
            (Placed, Processing),
            (Placed, Shipped),
            (Placed, Cancel),
            (Processing, Shipped),
            (Processing, Cancel),
            (Shipped, Delivered),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    to.allowed_predecessors().contains(&from),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }
}
