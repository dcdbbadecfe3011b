//! Database access, one module per aggregate. Queries are checked at run time (no database is
//! needed to build), and every one of them is exercised by the end-to-end tests.

pub mod jobs;
pub mod media;
pub mod users;
pub mod videos;
