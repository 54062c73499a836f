//! Revoked tokens. A token stays valid until it expires unless its `jti` is revoked here;
//! every component checks this on every authenticated request (one `exists`).

use crate::{KeyValue, StoreResult, keys};
use serde::{Deserialize, Serialize};

/// Why and by whom a token was revoked, kept for audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub jti: String,
    pub revoked_by: String,
    /// RFC 3339 instant.
    pub revoked_at: String,
    pub reason: String,
}

pub struct Revocations<'a, K> {
    kv: &'a K,
}

impl<'a, K: KeyValue> Revocations<'a, K> {
    pub fn new(kv: &'a K) -> Self {
        Self { kv }
    }

    /// Revokes a token. Idempotent: revoking twice keeps the first record, so the audit trail
    /// shows who revoked it first.
    pub async fn revoke(&self, revocation: &Revocation) -> StoreResult<Revocation> {
        let key = keys::revoked_token(&revocation.jti);
        if let Some(existing) = self.kv.get_json::<Revocation>(&key).await? {
            return Ok(existing);
        }
        self.kv.set_json(&key, revocation).await?;
        Ok(revocation.clone())
    }

    pub async fn is_revoked(&self, jti: &str) -> StoreResult<bool> {
        self.kv.exists(&keys::revoked_token(jti)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryKv;
    use futures::executor::block_on;

    fn revocation(by: &str) -> Revocation {
        Revocation {
            jti: "t1".into(),
            revoked_by: by.into(),
            revoked_at: "2026-01-01T00:00:00+08:00".into(),
            reason: "lost device".into(),
        }
    }

    #[test]
    fn revoking_twice_keeps_the_first_record() {
        let kv = MemoryKv::new();
        let revocations = Revocations::new(&kv);
        block_on(async {
            assert!(!revocations.is_revoked("t1").await.unwrap());
            revocations.revoke(&revocation("alice")).await.unwrap();
            let second = revocations.revoke(&revocation("bob")).await.unwrap();
            assert_eq!(second.revoked_by, "alice");
            assert!(revocations.is_revoked("t1").await.unwrap());
        });
    }
}
