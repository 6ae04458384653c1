//! multinicd: configures the secondary NICs of a Kubernetes node.
#![allow(missing_docs)]
mod observe;
mod plan;
fn main() {}
