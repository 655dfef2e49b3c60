CREATE TABLE "batches" (
	"id" text PRIMARY KEY NOT NULL,
	"seq" bigint GENERATED ALWAYS AS IDENTITY (sequence name "batches_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"owner" text NOT NULL,
	"endpoint" text NOT NULL,
	"model" text,
	"completion_window" text NOT NULL,
	"status" text NOT NULL,
	"input_file_id" text NOT NULL,
	"output_file_id" text,
	"error_file_id" text,
	"errors" jsonb,
	"metadata" jsonb,
	"priority" integer DEFAULT 0 NOT NULL,
	"handlers" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"retried_from" text,
	"total" integer DEFAULT 0 NOT NULL,
	"completed" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"prompt_tokens" bigint DEFAULT 0 NOT NULL,
	"completion_tokens" bigint DEFAULT 0 NOT NULL,
	"validation_owner" text,
	"validation_expires_at" timestamp with time zone,
	"validation_attempts" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"in_progress_at" timestamp with time zone,
	"expires_at" timestamp with time zone NOT NULL,
	"finalizing_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"failed_at" timestamp with time zone,
	"expired_at" timestamp with time zone,
	"cancelling_at" timestamp with time zone,
	"cancelled_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "file_chunks" (
	"file_id" text NOT NULL,
	"seq" integer NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "file_chunks_file_id_seq_pk" PRIMARY KEY("file_id","seq")
);
--> statement-breakpoint
CREATE TABLE "files" (
	"id" text PRIMARY KEY NOT NULL,
	"seq" bigint GENERATED ALWAYS AS IDENTITY (sequence name "files_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"owner" text NOT NULL,
	"purpose" text NOT NULL,
	"filename" text NOT NULL,
	"bytes" bigint DEFAULT 0 NOT NULL,
	"lines" integer,
	"batch_id" text,
	"status" text DEFAULT 'processed' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "handler_runs" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "handler_runs_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"batch_id" text NOT NULL,
	"handler" text NOT NULL,
	"event" text NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"max_attempts" integer DEFAULT 5 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"lease_owner" text,
	"lease_expires_at" timestamp with time zone,
	"last_error" text,
	"checkpoint" jsonb,
	"result" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "models" (
	"name" text PRIMARY KEY NOT NULL,
	"source" text NOT NULL,
	"engine_args" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"max_concurrency" integer,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "requests" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "requests_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"batch_id" text NOT NULL,
	"line" integer NOT NULL,
	"custom_id" text NOT NULL,
	"model" text NOT NULL,
	"body" text NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"priority" integer DEFAULT 0 NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"lease_owner" text,
	"lease_expires_at" timestamp with time zone,
	"status_code" integer,
	"response" text,
	"engine_request_id" text,
	"error" jsonb,
	"prompt_tokens" integer,
	"completion_tokens" integer,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "workers" (
	"id" text PRIMARY KEY NOT NULL,
	"host" text NOT NULL,
	"gpu" text NOT NULL,
	"pid" integer NOT NULL,
	"runtime" text DEFAULT 'bun' NOT NULL,
	"model" text,
	"engine_url" text NOT NULL,
	"connection_name" text,
	"status" text NOT NULL,
	"capacity" integer DEFAULT 0 NOT NULL,
	"in_flight" integer DEFAULT 0 NOT NULL,
	"completed" bigint DEFAULT 0 NOT NULL,
	"failed" bigint DEFAULT 0 NOT NULL,
	"gpu_stats" jsonb,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "file_chunks" ADD CONSTRAINT "file_chunks_file_id_files_id_fk" FOREIGN KEY ("file_id") REFERENCES "public"."files"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "batches_owner_seq_idx" ON "batches" USING btree ("owner","seq");--> statement-breakpoint
CREATE INDEX "batches_status_idx" ON "batches" USING btree ("status");--> statement-breakpoint
CREATE INDEX "files_owner_seq_idx" ON "files" USING btree ("owner","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "handler_runs_batch_handler_idx" ON "handler_runs" USING btree ("batch_id","handler");--> statement-breakpoint
CREATE INDEX "handler_runs_due_idx" ON "handler_runs" USING btree ("next_attempt_at") WHERE status = 'queued';--> statement-breakpoint
CREATE INDEX "handler_runs_running_idx" ON "handler_runs" USING btree ("lease_expires_at") WHERE status = 'running';--> statement-breakpoint
CREATE UNIQUE INDEX "requests_batch_line_idx" ON "requests" USING btree ("batch_id","line");--> statement-breakpoint
CREATE INDEX "requests_batch_status_idx" ON "requests" USING btree ("batch_id","status");--> statement-breakpoint
CREATE INDEX "requests_queue_idx" ON "requests" USING btree ("model","priority" DESC NULLS LAST,"id") WHERE status = 'queued';--> statement-breakpoint
CREATE INDEX "requests_leased_idx" ON "requests" USING btree ("lease_expires_at") WHERE status = 'leased';--> statement-breakpoint
CREATE INDEX "requests_lease_owner_idx" ON "requests" USING btree ("lease_owner") WHERE status = 'leased';--> statement-breakpoint
CREATE INDEX "requests_finished_idx" ON "requests" USING btree ("model","finished_at") WHERE finished_at is not null;--> statement-breakpoint
CREATE INDEX "workers_heartbeat_idx" ON "workers" USING btree ("status","heartbeat_at");