//! Order notifications, by source: the Pipe's queue (`sqs`), the table's
//! stream read by the service (`streams`), and the trace a message carries.

mod sqs;
mod streams;
mod trace;
