//! The `redis` import of contract 0.2: the Redis capability crate, bound.

use wasmtime::component::Resource;

use tributary_capability_redis as rd;

use super::super::super::state::HostState;
pub use super::tributary::connector::redis as wit_rd;

fn rd_error(e: rd::RedisError) -> wit_rd::RedisError {
    wit_rd::RedisError {
        code: e.code,
        message: e.message,
    }
}

type R<T> = wasmtime::Result<Result<T, wit_rd::RedisError>>;

impl wit_rd::Host for HostState {
    async fn connect(&mut self, database: u32) -> R<Resource<rd::RedisConnection>> {
        let Some(grant) = self.grants.redis.as_ref() else {
            return Ok(Err(wit_rd::RedisError {
                code: None,
                message: "this job was not granted a Redis connection".into(),
            }));
        };
        match rd::RedisConnection::connect(grant, database).await {
            Ok(c) => Ok(Ok(self.table.push(c)?)),
            Err(e) => {
                tracing::warn!(plugin = %self.plugin, error = %e, "Redis connect failed");
                Ok(Err(rd_error(e)))
            }
        }
    }
}

impl wit_rd::HostConnection for HostState {
    async fn ping(&mut self, c: Resource<rd::RedisConnection>) -> R<()> {
        Ok(self.table.get_mut(&c)?.ping().await.map_err(rd_error))
    }

    async fn databases(&mut self, c: Resource<rd::RedisConnection>) -> R<u32> {
        Ok(self.table.get_mut(&c)?.databases().await.map_err(rd_error))
    }

    async fn scan(
        &mut self,
        c: Resource<rd::RedisConnection>,
        cursor: u64,
        pattern: Option<String>,
        count: u32,
        key_type: Option<String>,
    ) -> R<(u64, Vec<Vec<u8>>)> {
        let r = self
            .table
            .get_mut(&c)?
            .scan(cursor, pattern.as_deref(), count, key_type.as_deref())
            .await;
        Ok(r.map_err(rd_error))
    }

    async fn key_type(&mut self, c: Resource<rd::RedisConnection>, key: Vec<u8>) -> R<String> {
        Ok(self
            .table
            .get_mut(&c)?
            .key_type(&key)
            .await
            .map_err(rd_error))
    }

    async fn memory_usage(
        &mut self,
        c: Resource<rd::RedisConnection>,
        key: Vec<u8>,
    ) -> R<Option<u64>> {
        Ok(self
            .table
            .get_mut(&c)?
            .memory_usage(&key)
            .await
            .map_err(rd_error))
    }

    async fn get(&mut self, c: Resource<rd::RedisConnection>, key: Vec<u8>) -> R<Option<Vec<u8>>> {
        Ok(self.table.get_mut(&c)?.get(&key).await.map_err(rd_error))
    }

    async fn list(&mut self, c: Resource<rd::RedisConnection>, key: Vec<u8>) -> R<Vec<Vec<u8>>> {
        Ok(self.table.get_mut(&c)?.list(&key).await.map_err(rd_error))
    }

    async fn set(&mut self, c: Resource<rd::RedisConnection>, key: Vec<u8>) -> R<Vec<Vec<u8>>> {
        Ok(self.table.get_mut(&c)?.set(&key).await.map_err(rd_error))
    }

    async fn sorted_set(
        &mut self,
        c: Resource<rd::RedisConnection>,
        key: Vec<u8>,
    ) -> R<Vec<(Vec<u8>, f64)>> {
        Ok(self
            .table
            .get_mut(&c)?
            .sorted_set(&key)
            .await
            .map_err(rd_error))
    }

    async fn hash(
        &mut self,
        c: Resource<rd::RedisConnection>,
        key: Vec<u8>,
    ) -> R<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(self.table.get_mut(&c)?.hash(&key).await.map_err(rd_error))
    }

    async fn stream(
        &mut self,
        c: Resource<rd::RedisConnection>,
        key: Vec<u8>,
    ) -> R<Vec<wit_rd::StreamEntry>> {
        let r = self.table.get_mut(&c)?.stream(&key).await;
        Ok(r.map(|entries| {
            entries
                .into_iter()
                .map(|e| wit_rd::StreamEntry {
                    id: e.id,
                    fields: e.fields,
                })
                .collect()
        })
        .map_err(rd_error))
    }

    async fn drop(&mut self, c: Resource<rd::RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}
