//! shadow (to be written).
