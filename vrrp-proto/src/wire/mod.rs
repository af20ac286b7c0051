//! VRRP packet codec (placeholder: being written).
