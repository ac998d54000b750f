//! The decision engine: projects of flows (YAML), each a DAG of variables,
//! data sources, models, rule sets and decision tables, compiled once and
//! evaluated many times. It computes only the sub-graph the outputs need,
//! runs independent data-source calls concurrently, and records a trace.
//!
//! It knows nothing of HTTP servers, queues or databases: those are the
//! server's and the store's. Its only I/O is reading project files and
//! calling HTTP data sources (module [`http`]).

pub mod cell;
pub mod compile;
pub mod diag;
pub mod exec;
pub mod fieldtype;
pub mod flow;
pub mod http;
pub mod models;
pub mod project;
pub mod table;
pub mod testing;
pub mod trace;

pub use compile::{Project, load, load_with};
pub use diag::Diagnostic;
pub use exec::{Answers, DecideError, DecideOptions, Decision, Fetcher, FieldError, SourceCall};
pub use flow::Flow;
pub use trace::Trace;
