//! Response bodies: the original service's envelopes and PascalCase items.
//! Index keys and internal markers never appear here.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{Order, StoredNumber, User};
use crate::store::keys;

/// `{"message","success":true,"data"}`.
#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    pub message: String,
    #[schema(example = true)]
    pub success: bool,
    pub data: T,
}

impl<T> Envelope<T> {
    pub fn new(message: impl Into<String>, data: T) -> Self {
        Self {
            message: message.into(),
            success: true,
            data,
        }
    }
}

/// `GET /orders/{order_id}` also repeats the status code, as the original did.
#[derive(Serialize, ToSchema)]
pub struct OrderFetched {
    #[schema(example = "Order fetched successfully")]
    pub message: String,
    #[schema(example = true)]
    pub success: bool,
    pub data: OrderView,
    #[schema(example = 200)]
    pub status: u16,
}

/// One page of a listing: the customer first (first page only), then orders
/// newest first. Concatenating the pages gives the whole listing.
#[derive(Serialize, ToSchema)]
pub struct OrdersListing {
    #[schema(example = "orders fetched successfully")]
    pub message: String,
    #[schema(example = true)]
    pub success: bool,
    pub data: Vec<ListingEntry>,
    /// Pass as `nextToken` to get the next page; absent on the last page.
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ListingEntry {
    Customer(UserView),
    /// What the `fulfilment` group sees of the customer: who to ship to.
    Recipient(RecipientView),
    Order(OrderView),
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(example = json!({
    "PK": "CUSTOMER#john", "SK": "CUSTOMER#john", "Username": "john",
    "Email": "john@example.com", "Name": "john smith",
    "Address": "124 Street Akl NZ", "CreatedAt": "2023-08-21T22:21:34.811747Z"
}))]
pub struct UserView {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub username: String,
    pub email: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Absent on a profile the replaced system registered (it kept no date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        let key = keys::customer(&user.username);
        Self {
            pk: key.pk,
            sk: key.sk,
            username: user.username.to_string(),
            email: user.email.as_str().to_owned(),
            name: user.name.as_str().to_owned(),
            address: user.address.map(|address| address.as_str().to_owned()),
            created_at: user.created_at.map(|at| at.to_string()),
        }
    }
}

/// The part of a profile that shipping needs: no email, no sign-up date.
/// Nothing else ever appears (`additionalProperties: false`), which also
/// keeps a whole profile from matching this schema.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[schema(example = json!({
    "Username": "john", "Name": "john smith", "Address": "124 Street Akl NZ"
}))]
pub struct RecipientView {
    pub username: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl From<User> for RecipientView {
    fn from(user: User) -> Self {
        Self {
            username: user.username.to_string(),
            name: user.name.as_str().to_owned(),
            address: user.address.map(|address| address.as_str().to_owned()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeletedUser {
    #[serde(rename = "Username")]
    #[schema(example = "john")]
    pub username: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(example = json!({
    "PK": "CUSTOMER#john", "SK": "#ORDER#01K9Z8Y7X6W5V4T3S2R1Q0P9N8",
    "OrderId": "01K9Z8Y7X6W5V4T3S2R1Q0P9N8", "CreatedAt": "2023-08-22T02:07:33.696174Z",
    "Status": "PLACED", "Amount": 5.5, "NumberItems": 2
}))]
pub struct OrderView {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    /// A ULID, or a KSUID for an order the replaced system placed.
    pub order_id: String,
    /// Absent only on an order the replaced system wrote without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// A status of the state machine; an order the replaced system wrote
    /// may hold any other string, shown as stored.
    #[schema(example = "PLACED")]
    pub status: String,
    /// An exact decimal number, digit for digit as stored (the replaced
    /// system's orders may hold any amount above 0).
    #[schema(value_type = f64, example = 5.5)]
    pub amount: StoredNumber,
    /// A whole number, as stored (the replaced system's orders may hold
    /// more than today's 10,000).
    #[schema(value_type = u64, example = 2)]
    pub number_items: StoredNumber,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The customer's username (lower case): on the work queue's entries
    /// (`GET /orders?status=`), which hold many customers' orders.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "john")]
    pub username: Option<String>,
}

impl OrderView {
    /// The view of an order in a work queue: with its customer's username.
    pub fn queued(order: Order) -> Self {
        let username = order.owner.as_str().to_owned();
        Self {
            username: Some(username),
            ..Self::from(order)
        }
    }
}

impl From<Order> for OrderView {
    fn from(order: Order) -> Self {
        let key = keys::order(&order.owner, order.id);
        Self {
            pk: key.pk,
            sk: key.sk,
            order_id: order.id.to_string(),
            created_at: order.created_at.map(|at| at.to_string()),
            status: order.status.as_str().to_owned(),
            amount: order.amount,
            number_items: order.items,
            updated_at: order.updated_at.map(|at| at.to_string()),
            username: None,
        }
    }
}
