ALTER TABLE "batches" ADD COLUMN "output_expires_after" integer;--> statement-breakpoint
ALTER TABLE "batches" ADD COLUMN "bodies_purged_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "batches" ADD COLUMN "results_purged_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "files" ADD COLUMN "expires_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "files_expires_at_idx" ON "files" USING btree ("expires_at") WHERE status = 'processed' and expires_at is not null;