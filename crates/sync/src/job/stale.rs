//! After everything was written: the checks that make stale deletion safe, the
//! protection of documents that failed to index, the deletion, the final count.

use super::*;

impl Job<'_> {
    /// After everything was written: the index checks and stale deletion (full
    /// only), count, cursor.
    pub(super) async fn finish(&mut self, source: &mut dyn DocumentSource) -> Flow {
        let spec = self.spec;
        let index = spec.index_name.as_str();
        let target = self.target.clone();
        let fail = |what: &str| {
            let what = what.to_string();
            move |e: Option<TargetError>| match e {
                Some(e) => Stop::Failed(format!("{what} of index '{index}' failed: {e}")),
                None => Stop::Canceled,
            }
        };
        if self.cancel.is_cancelled() {
            return Err(Stop::Canceled);
        }
        // Whatever the job type: an index replaced under the sync lost what was
        // written before, so the job cannot end as a success.
        self.check_same_index().await?;
        if spec.job_type == JobType::Full {
            self.protect_failed().await?;
            admin(target.refresh(index))
                .await
                .map_err(fail("Refresh"))?;
            let field = self.check_stale_deletion_is_safe().await?;
            // Last chance to stop: past this point the stale documents are gone.
            if self.cancel.is_cancelled() {
                return Err(Stop::Canceled);
            }
            let deleted = admin(target.delete_where_not(index, &field, &spec.job_id))
                .await
                .map_err(fail("Stale document deletion"))?;
            self.stats.deleted_document_count += deleted;
            metrics::documents(&spec.connector_id, 0, deleted, 0);
            self.progress.send_replace(self.stats.clone());
        }
        admin(target.refresh(index))
            .await
            .map_err(fail("Refresh"))?;
        let total = admin(target.count(index)).await.map_err(fail("Count"))?;
        self.stats.total_document_count = total;
        self.cursor = source.cursor().await.map_err(|e| {
            Stop::Failed(non_empty(
                format!("Reading the sync cursor failed: {e}"),
                "cursor",
            ))
        })?;
        Ok(())
    }

    /// The index now, compared with the index the sync prepared: missing or
    /// replaced (another uuid) fails the job, and no stale document is deleted.
    pub(super) async fn check_same_index(&mut self) -> Flow<IndexInfo> {
        let spec = self.spec;
        let index = spec.index_name.as_str();
        let now = admin(self.target.index_info(index))
            .await
            .map_err(|e| match e {
                Some(e) => Stop::Failed(format!(
                    "Could not check index '{index}' before finishing the sync: {e}; stale documents were not deleted"
                )),
                None => Stop::Canceled,
            })?;
        let before = self.index_at_start.clone().unwrap_or_default();
        let deletion = if spec.job_type == JobType::Full {
            " Stale documents were not deleted."
        } else {
            ""
        };
        let Some(now) = now else {
            metrics::stale_deletion_skipped(&spec.connector_id);
            return Err(Stop::Failed(format!(
                "The index '{index}' was deleted while the sync ran (it was {} at the start); the documents written to it are gone.{deletion} Run a full sync to recreate and refill it.",
                before.describe()
            )));
        };
        if now.uuids != before.uuids {
            metrics::stale_deletion_skipped(&spec.connector_id);
            let mapping = match now.stamp_field(spec.job_id.len()) {
                StampField::Keyword | StampField::Subfield(_) => String::new(),
                StampField::Unusable(bad) => format!(
                    " The new index maps {SYNC_STAMP_FIELD} as {} (dynamic mapping), which stale-document deletion cannot use: delete index '{index}' before the next full sync so that Tributary creates it with the right mapping.",
                    describe_types(&bad)
                ),
            };
            return Err(Stop::Failed(format!(
                "The index '{index}' was deleted and recreated while the sync ran ({} at the start, {} at the end): documents written before that are missing from it.{deletion}{mapping} Run a full sync again to refill it.",
                before.describe(),
                now.describe()
            )));
        }
        Ok(now)
    }

    /// Right before deleting: the stamp must be matched exactly by a `term` in every
    /// concrete index (a `keyword`; else `must_not term` matches everything), and
    /// this job's stamp must be found by the very query the deletion negates. Returns
    /// the field to delete by. Any doubt fails the job.
    ///
    /// An index recreated by dynamic mapping maps the stamp as `text` with a
    /// `keyword` sub-field; that sub-field is used only when it finds at least every
    /// document this sync indexed (all of them were written with today's mapping, so
    /// anything it does not find was not written by this sync).
    pub(super) async fn check_stale_deletion_is_safe(&mut self) -> Flow<String> {
        let spec = self.spec;
        let index = spec.index_name.as_str();
        let now = self.check_same_index().await?;
        let stamp = now.stamp_field(spec.job_id.len());
        let Some(field) = stamp.name() else {
            let StampField::Unusable(bad) = stamp else {
                return Err(Stop::Failed("no usable stamp field".into()));
            };
            metrics::stale_deletion_skipped(&spec.connector_id);
            return Err(Stop::Failed(format!(
                "Stale documents were not deleted: index '{index}' maps {SYNC_STAMP_FIELD} as {} but stale-document deletion needs a keyword. The documents of this sync were written. To repair: delete index '{index}' and run a full sync (Tributary recreates it with the right mapping), or reindex it into an index that maps {SYNC_STAMP_FIELD} as keyword.",
                describe_types(&bad)
            )));
        };
        let indexed = self.stats.indexed_document_count;
        let exact = matches!(stamp, StampField::Subfield(_));
        if indexed > 0 || exact {
            let stamped = admin(self.target.count_where(index, &field, &spec.job_id))
            .await
            .map_err(|e| match e {
                Some(e) => Stop::Failed(format!(
                    "Could not count this sync's documents in index '{index}': {e}; stale documents were not deleted"
                )),
                None => Stop::Canceled,
            })?;
            let short = if exact {
                stamped < indexed
            } else {
                stamped == 0
            };
            if short {
                metrics::stale_deletion_skipped(&spec.connector_id);
                return Err(Stop::Failed(format!(
                    "Stale documents were not deleted: only {stamped} of the {indexed} documents this sync indexed are found in index '{index}' by {field}, so the deletion could remove live documents. Check the index's mapping and aliases, then run a full sync again."
                )));
            }
        }
        if exact {
            tracing::warn!(job_id = %spec.job_id, index, field = %field, "deleting stale documents through the stamp's keyword sub-field (the index was recreated by dynamic mapping)");
        }
        Ok(field)
    }

    pub(super) fn protect_id(&mut self, id: &str) {
        if self.spec.job_type != JobType::Full {
            return;
        }
        if self.protect.len() < MAX_PROTECTED_IDS {
            self.protect.push(id.to_string());
        } else {
            self.protect_overflow = true;
        }
    }

    /// Stamps the previous copy of every document that failed to index with this
    /// job's id so stale deletion keeps it (the source still has the document). The
    /// target's `update` upserts, so a stamp that *created* a document (no previous
    /// copy) is deleted again right away. Any doubt fails the job rather than
    /// deleting live data.
    pub(super) async fn protect_failed(&mut self) -> Flow {
        if self.protect_overflow {
            return Err(Stop::Failed(format!(
                "More than {MAX_PROTECTED_IDS} documents failed to index; stale documents were not deleted to protect live data"
            )));
        }
        if self.protect.is_empty() {
            return Ok(());
        }
        let mut body = vec![b'{'];
        crate::document::write_str(SYNC_STAMP_FIELD, &mut body);
        body.push(b':');
        crate::document::write_str(&self.spec.job_id, &mut body);
        body.push(b'}');
        let ids = std::mem::take(&mut self.protect);
        let total = ids.len();
        let stamps = ids.into_iter().map(|id| BulkOp {
            action: BulkAction::Update,
            id,
            source: Some(body.clone()),
        });
        let mut unprotected = Vec::new();
        let mut created = Vec::new();
        for (id, outcome) in self.send_admin_ops(stamps.collect()).await? {
            match outcome {
                ItemOutcome::Indexed { created: true, .. } => created.push(id),
                ItemOutcome::Failed(e) => unprotected.push(e.to_string()),
                _ => {}
            }
        }
        if !created.is_empty() {
            let deletes = created.into_iter().map(|id| BulkOp {
                action: BulkAction::Delete,
                id,
                source: None,
            });
            for (id, outcome) in self.send_admin_ops(deletes.collect()).await? {
                if let ItemOutcome::Failed(e) = outcome {
                    // Not data loss: a stub with only the stamp; the next full sync
                    // deletes it as stale.
                    tracing::warn!(job_id = %self.spec.job_id, id = %id, error = %e, "could not remove a stamp-only stub document");
                }
            }
        }
        if !unprotected.is_empty() {
            return Err(Stop::Failed(format!(
                "{} of {total} documents that failed to index could not be protected from stale deletion, so stale documents were not deleted: {}",
                unprotected.len(),
                unprotected.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
            )));
        }
        tracing::info!(job_id = %self.spec.job_id, documents = total, "kept the previous copy of documents that failed to index");
        Ok(())
    }

    /// Sends bookkeeping ops (no ingest pipeline, not counted in the stats), one
    /// request at a time, retrying items as the main stream does; returns each op's
    /// id with its final outcome.
    pub(super) async fn send_admin_ops(
        &mut self,
        ops: Vec<BulkOp>,
    ) -> Flow<Vec<(String, ItemOutcome)>> {
        let mut settings = self.ctx.settings.clone();
        // These writes protect live data: they get at least ADMIN_REJECTION_PATIENCE
        // of rejections even when the job's own items get less.
        settings.rejection_timeout = settings.rejection_timeout.max(ADMIN_REJECTION_PATIENCE);
        let ctx = Arc::new(BulkContext {
            pipeline: None,
            settings,
            ..(*self.ctx).clone()
        });
        let settings = &self.spec.settings;
        let mut batcher = Batcher::new(settings.bulk_max_docs, settings.bulk_max_bytes);
        let mut batches = Vec::new();
        for op in ops {
            batches.extend(batcher.push(op, 0));
        }
        batches.extend(batcher.finish());
        let mut out = Vec::new();
        for batch in batches {
            let states = batch.ops.iter().map(|_| ItemState::new(0)).collect();
            let mut req = Request {
                ops: batch.ops,
                states,
            };
            while !req.is_empty() {
                let report = send_request(self.target.clone(), ctx.clone(), req).await;
                if let Some(fatal) = report.fatal {
                    return Err(Stop::Failed(format!(
                        "Could not protect documents that failed to index from stale deletion: {fatal}"
                    )));
                }
                let mut again = Request::default();
                let mut delay = Duration::ZERO;
                for ((op, state), verdict) in report
                    .ops
                    .into_iter()
                    .zip(report.states)
                    .zip(report.verdicts)
                {
                    match verdict {
                        Verdict::Done(ItemOutcome::Abandoned) => return Err(Stop::Canceled),
                        Verdict::Done(o) => out.push((op.id, o)),
                        Verdict::Retry { delay: d, .. } => {
                            delay = delay.max(d);
                            again.ops.push(op);
                            again.states.push(state);
                        }
                    }
                }
                if self.cancel.is_cancelled() {
                    return Err(Stop::Canceled);
                }
                if !again.is_empty() && !wait(delay, &self.stop).await {
                    return Err(Stop::Canceled);
                }
                req = again;
            }
        }
        Ok(out)
    }
}

/// `index (type), …` for messages.
pub(super) fn describe_types(bad: &[(String, String)]) -> String {
    bad.iter()
        .map(|(i, t)| format!("'{t}' (in {i})"))
        .collect::<Vec<_>>()
        .join(", ")
}
