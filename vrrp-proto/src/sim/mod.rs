//! Deterministic simulator of VRRP routers on shared links (placeholder: being written).
