//! The VRRP router state machine (placeholder: being written).
