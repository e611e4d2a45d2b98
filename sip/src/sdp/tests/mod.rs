//! Tests of SDP parsing, writing and offer/answer, on descriptions as
//! real peers write them ([`samples`]).

mod hostile;
mod negotiate;
mod parse;
mod samples;
