CREATE TABLE "owner_weights" (
	"owner" text PRIMARY KEY NOT NULL,
	"weight" real NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "request_ranges" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "request_ranges_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"batch_id" text NOT NULL,
	"model" text NOT NULL,
	"owner" text NOT NULL,
	"priority" integer DEFAULT 0 NOT NULL,
	"first_line" integer NOT NULL,
	"last_line" integer NOT NULL,
	"size" integer NOT NULL,
	"lease_owner" text,
	"lease_expires_at" timestamp with time zone,
	"attempts" integer DEFAULT 0 NOT NULL,
	"succeeded" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"prompt_tokens" bigint DEFAULT 0 NOT NULL,
	"completion_tokens" bigint DEFAULT 0 NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "results" (
	"batch_id" text NOT NULL,
	"line" integer NOT NULL,
	"status" text NOT NULL,
	"status_code" integer,
	"response" text,
	"engine_request_id" text,
	"error" jsonb,
	"prompt_tokens" integer,
	"completion_tokens" integer,
	"attempts" integer DEFAULT 1 NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "results_pkey" PRIMARY KEY("batch_id","line")
);
--> statement-breakpoint
DROP INDEX "requests_batch_status_idx";--> statement-breakpoint
DROP INDEX "requests_queue_idx";--> statement-breakpoint
DROP INDEX "requests_leased_idx";--> statement-breakpoint
DROP INDEX "requests_lease_owner_idx";--> statement-breakpoint
DROP INDEX "requests_finished_idx";--> statement-breakpoint
ALTER TABLE "workers" ADD COLUMN "completion_rate" real DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "request_ranges_batch_idx" ON "request_ranges" USING btree ("batch_id","first_line");--> statement-breakpoint
CREATE INDEX "request_ranges_queue_idx" ON "request_ranges" USING btree ("model","priority" DESC NULLS LAST,"batch_id","first_line") WHERE lease_owner is null and finished_at is null;--> statement-breakpoint
CREATE INDEX "request_ranges_leased_idx" ON "request_ranges" USING btree ("lease_expires_at") WHERE lease_owner is not null;--> statement-breakpoint
CREATE INDEX "request_ranges_lease_owner_idx" ON "request_ranges" USING btree ("lease_owner") WHERE lease_owner is not null;--> statement-breakpoint
ALTER TABLE "owner_weights" ADD CONSTRAINT "owner_weights_weight_check" CHECK (weight > 0);--> statement-breakpoint
ALTER TABLE "request_ranges" SET (fillfactor = 70);--> statement-breakpoint
-- The previous release kept each result on its request row: finished requests become result rows.
INSERT INTO "results" ("batch_id", "line", "status", "status_code", "response", "engine_request_id", "error", "prompt_tokens", "completion_tokens", "attempts", "started_at", "finished_at")
SELECT "batch_id", "line", "status", "status_code", "response", "engine_request_id", "error", "prompt_tokens", "completion_tokens", greatest("attempts", 1), "started_at", coalesce("finished_at", now())
FROM "requests" WHERE "status" IN ('succeeded', 'failed', 'cancelled', 'expired');--> statement-breakpoint
-- Unfinished requests (queued, or leased by a worker of the previous release, which must be stopped before upgrading) are cut into unleased ranges, as schema/sql/cut-ranges.ts cuts a new batch.
-- Their batches' counters already count the finished ones, so the new ranges start from zero.
INSERT INTO "request_ranges" ("batch_id", "model", "owner", "priority", "first_line", "last_line", "size")
SELECT q."batch_id", q."model", b."owner", b."priority", min(q."line"), max(q."line"), count(*)::int
FROM (
  SELECT r."batch_id", r."model", r."line",
         (row_number() OVER (PARTITION BY r."batch_id", r."model" ORDER BY r."line") - 1)
           / least(1024, greatest(1, ceil(count(*) OVER (PARTITION BY r."batch_id", r."model") / 256.0)))::int AS k
  FROM "requests" r
  WHERE r."status" IN ('queued', 'leased')
) q JOIN "batches" b ON b."id" = q."batch_id"
GROUP BY q."batch_id", q."model", b."owner", b."priority", q.k;--> statement-breakpoint
-- Each request's state, derived: its result if it has one, else leased or queued by its open range.
CREATE VIEW "request_states" AS
SELECT r."id", r."batch_id", r."line", r."custom_id", r."model",
       coalesce(x."status", CASE WHEN g."lease_owner" IS NOT NULL THEN 'leased' WHEN g."id" IS NOT NULL THEN 'queued' END) AS "status",
       g."id" AS "range_id", g."lease_owner", g."lease_expires_at", coalesce(x."attempts", g."attempts") AS "attempts",
       x."status_code", x."response", x."engine_request_id", x."error", x."prompt_tokens", x."completion_tokens", x."started_at", x."finished_at"
FROM "requests" r
LEFT JOIN "results" x ON x."batch_id" = r."batch_id" AND x."line" = r."line"
LEFT JOIN "request_ranges" g ON x."line" IS NULL AND g."batch_id" = r."batch_id" AND g."model" = r."model"
  AND g."finished_at" IS NULL AND r."line" BETWEEN g."first_line" AND g."last_line";
