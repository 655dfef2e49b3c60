-- Each status column accepts only its state machine's statuses (schema/states/). Every status any release
-- wrote is in its list (requests.status keeps the previous release's six), so existing rows pass.
ALTER TABLE "batches" ADD CONSTRAINT "batches_status_check" CHECK (status in ('validating', 'failed', 'in_progress', 'finalizing', 'completed', 'expired', 'cancelling', 'cancelled'));--> statement-breakpoint
ALTER TABLE "handler_runs" ADD CONSTRAINT "handler_runs_status_check" CHECK (status in ('queued', 'running', 'succeeded', 'skipped', 'dead'));--> statement-breakpoint
ALTER TABLE "requests" ADD CONSTRAINT "requests_status_check" CHECK (status in ('queued', 'leased', 'succeeded', 'failed', 'cancelled', 'expired'));--> statement-breakpoint
ALTER TABLE "results" ADD CONSTRAINT "results_status_check" CHECK (status in ('succeeded', 'failed', 'cancelled', 'expired'));