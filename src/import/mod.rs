//! Importing configurations from other systems. Today: Amazon Route 53, from what
//! `aws route53 list-resource-record-sets` and `list-health-checks` / `get-health-check` print.

pub mod route53;
