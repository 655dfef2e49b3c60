CREATE TABLE "owner_limits" (
	"owner" text PRIMARY KEY NOT NULL,
	"max_queued_requests" integer,
	"requests_per_minute" integer,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rate_buckets" (
	"owner" text PRIMARY KEY NOT NULL,
	"tokens" double precision NOT NULL,
	"refilled_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "fleet_samples" (
	"at" timestamp with time zone NOT NULL,
	"model" text NOT NULL,
	"finished" bigint NOT NULL,
	"failed" bigint NOT NULL,
	"prompt_tokens" bigint NOT NULL,
	"completion_tokens" bigint NOT NULL,
	"queued" bigint NOT NULL,
	CONSTRAINT "fleet_samples_at_model_pk" PRIMARY KEY("at","model")
);
--> statement-breakpoint
ALTER TABLE "batches" ADD COLUMN "paused_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "batches" ADD COLUMN "max_failed_requests" integer;--> statement-breakpoint
ALTER TABLE "batches" ADD COLUMN "max_failure_ratio" double precision;--> statement-breakpoint
ALTER TABLE "batches" ADD COLUMN "min_requests_for_ratio" integer DEFAULT 100 NOT NULL;--> statement-breakpoint
ALTER TABLE "batches" ADD COLUMN "budget_exceeded_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "workers" ADD COLUMN "kv_cache_usage" real;