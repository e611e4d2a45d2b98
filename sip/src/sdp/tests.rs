//! Tests of SDP parsing, writing and offer/answer.
