//! A blocking front for programs without an async runtime. It owns a small
//! tokio runtime (one worker thread, which also runs the background probes).

use crate::config::ResolverConfig;
use crate::dns::{Name, RecordType};
use crate::engine::Answer;
use crate::error::Error;
use crate::resolver::{LookupIp, Resolver, UpstreamStatus};

/// The blocking counterpart of [`Resolver`].
pub struct BlockingResolver {
    // Dropped before the runtime: cancelling and aborting the background task
    // needs no runtime, and the runtime's shutdown then reaps it.
    resolver: Resolver,
    runtime: tokio::runtime::Runtime,
}

impl BlockingResolver {
    /// Starts the runtime and the resolver.
    pub fn new(config: ResolverConfig) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("palanquin-stub")
            .enable_all()
            .build()?;
        let resolver = {
            let _entered = runtime.enter();
            Resolver::new(config)?
        };
        Ok(BlockingResolver { resolver, runtime })
    }

    /// A resolver over /etc/resolv.conf.
    pub fn from_system() -> Result<Self, Error> {
        Self::new(ResolverConfig::system()?)
    }

    /// See [`Resolver::query`].
    pub fn query(&self, name: &Name, rtype: RecordType) -> Result<Answer, Error> {
        self.runtime.block_on(self.resolver.query(name, rtype))
    }

    /// See [`Resolver::lookup`].
    pub fn lookup(&self, name: &str, rtype: RecordType) -> Result<Answer, Error> {
        self.runtime.block_on(self.resolver.lookup(name, rtype))
    }

    /// See [`Resolver::lookup_ip`].
    pub fn lookup_ip(&self, host: &str) -> Result<LookupIp, Error> {
        self.runtime.block_on(self.resolver.lookup_ip(host))
    }

    /// See [`Resolver::upstreams`].
    pub fn upstreams(&self) -> Vec<UpstreamStatus> {
        self.resolver.upstreams()
    }
}
