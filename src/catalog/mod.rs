//! catalog (to be written).
