//! (being built; see model.rs for the interfaces)
