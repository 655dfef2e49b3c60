ALTER TABLE "batches" ADD COLUMN "paused_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "batches" ADD COLUMN "max_failed_requests" integer;--> statement-breakpoint
ALTER TABLE "batches" ADD COLUMN "max_failure_ratio" double precision;--> statement-breakpoint
ALTER TABLE "batches" ADD COLUMN "min_requests_for_ratio" integer DEFAULT 100 NOT NULL;--> statement-breakpoint
ALTER TABLE "batches" ADD COLUMN "budget_exceeded_at" timestamp with time zone;