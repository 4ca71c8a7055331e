//! Git delta format (gitformat-pack "Deltified representation"): apply and encode.

mod encode;

pub use encode::DeltaIndex;
