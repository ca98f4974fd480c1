//! planfile (to be written).
