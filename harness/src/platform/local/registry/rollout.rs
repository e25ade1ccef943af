//! Changing a running function: rolling updates (`PUT /system/functions`) and the secrets a
//! deployment mounts.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{lock, Func, Registry, Replica, ReplicaState, DRAIN_TIMEOUT, HEALTH_POLL};
use crate::openfaas::FunctionDeployment;
use crate::platform::local::{secrets, LocalError};

impl Registry {
    /// Check `d`'s secrets exist and can be mounted, and copy them into its folder.
    pub(super) fn prepare_secrets(&self, d: &FunctionDeployment) -> Result<(), LocalError> {
        if d.secrets.is_empty() {
            if let Some(s) = &self.secrets {
                s.drop_view(&d.service);
            }
            return Ok(());
        }
        let store = self.secrets()?;
        store.check_exist(&d.secrets)?;
        // SAFETY: geteuid has no preconditions.
        secrets::mountable(&d.service, unsafe { libc::geteuid() })?;
        std::fs::create_dir_all(secrets::MOUNT_PATH).map_err(|source| LocalError::Io {
            what: format!("create {}", secrets::MOUNT_PATH),
            source,
        })?;
        store.make_view(&d.service, &d.secrets).map(drop)
    }

    /// `PUT /system/functions`: a rolling update, as a Kubernetes Deployment with maxSurge 1 and
    /// maxUnavailable 0 (faas-netes' strategy): for each replica, start one with the new spec,
    /// wait until it is healthy, then retire one old replica (out of rotation first, ended once
    /// its calls in flight are answered). The old replicas serve until then; if a new replica
    /// fails, it is ended, the old spec is restored and the error says why.
    pub async fn update(self: &Arc<Self>, d: FunctionDeployment) -> Result<(), LocalError> {
        let f = self
            .get(&d.service)
            .ok_or_else(|| LocalError::NotFound(d.service.clone()))?;
        let (constraints, eligible, binaries, min) = self.resolve(&d)?;
        self.prepare_secrets(&d)?;
        let _g = f.scale_lock.lock().await;
        let desired = f.desired.load(Ordering::SeqCst).max(min);
        let old = f.live();
        let before = (
            std::mem::replace(&mut *lock(&f.deployment), d),
            std::mem::replace(&mut *lock(&f.constraints), constraints),
            std::mem::replace(&mut *lock(&f.eligible), eligible),
            std::mem::replace(&mut *lock(&f.binaries), binaries),
            f.desired.swap(desired, Ordering::SeqCst),
        );
        let mut old_left = old.iter();
        for _ in 0..desired {
            let r = self.spawn(&f).await?;
            let state = r.settled(Instant::now() + self.health_timeout).await;
            if state != ReplicaState::Ready {
                let err = self.start_error(&f, &r, state);
                self.retire(&f, &r).await?;
                let (dep, cons, elig, bins, n) = before;
                *lock(&f.deployment) = dep;
                *lock(&f.constraints) = cons;
                *lock(&f.eligible) = elig;
                *lock(&f.binaries) = bins;
                f.desired.store(n, Ordering::SeqCst);
                return Err(err);
            }
            if let Some(o) = old_left.next() {
                self.retire(&f, o).await?;
            }
        }
        for o in old_left {
            self.retire(&f, o).await?;
        }
        Ok(())
    }

    /// Take `r` out of rotation, wait (at most [`DRAIN_TIMEOUT`]) until no call holds it, then
    /// end it and wait until it has exited.
    async fn retire(&self, f: &Func, r: &Arc<Replica>) -> Result<(), LocalError> {
        lock(&f.replicas).retain(|x| !Arc::ptr_eq(x, r));
        // Left holding it: `r` here and its reaper (while it runs); every call in flight holds
        // one more (`Picked`).
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while Arc::strong_count(r) > 2 && Instant::now() < deadline {
            tokio::time::sleep(HEALTH_POLL).await;
        }
        r.end(libc::SIGKILL);
        if !r.gone(Instant::now() + Duration::from_secs(10)).await {
            return Err(LocalError::Stuck { pid: r.pid });
        }
        Ok(())
    }

    /// Why replica `r` of `f` did not become ready.
    pub(super) fn start_error(&self, f: &Func, r: &Replica, state: ReplicaState) -> LocalError {
        let function = f.deployment().service;
        let node = self.nodes[r.node].node.name.clone();
        match state {
            ReplicaState::Dead => LocalError::ReplicaDied {
                log: self.logs.join(format!("{function}.{node}.log")),
                function,
                node,
            },
            _ => LocalError::HealthTimeout {
                function,
                node,
                timeout: self.health_timeout,
            },
        }
    }
}
