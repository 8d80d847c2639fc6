//! How a PBX's lease is named in PostgreSQL: the advisory-lock key and the lease
//! session's `application_name`. The cluster takes leases under these names and
//! the change feed checks them before it writes, so both read them from here.

/// Prefix of the lease sessions' `application_name`.
pub const LEASE_APP: &str = "switchboard:";

/// The advisory-lock key of a PBX: FNV-1a (64 bits) of `switchboard:pbx:<name>`,
/// the same in every instance whatever its build.
pub fn lock_key(pbx: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("switchboard:pbx:{pbx}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        assert_eq!(lock_key("north"), lock_key("north"));
        assert_ne!(lock_key("north"), lock_key("south"));
    }
}
