CREATE SEQUENCE "public"."result_annotation_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE TABLE "result_annotations" (
	"batch_id" text NOT NULL,
	"line" integer NOT NULL,
	"custom_id" text NOT NULL,
	"gold" boolean,
	"rating" smallint,
	"correction" text,
	"labels" jsonb,
	"note" text,
	"annotator" text NOT NULL,
	"source" text NOT NULL,
	"seq" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "result_annotations_pkey" PRIMARY KEY("batch_id","line"),
	CONSTRAINT "result_annotations_rating_check" CHECK (rating between 1 and 5),
	CONSTRAINT "result_annotations_source_check" CHECK (source in ('api', 'dashboard', 'label-studio'))
);
--> statement-breakpoint
CREATE TABLE "result_metadata" (
	"batch_id" text NOT NULL,
	"line" integer NOT NULL,
	"metadata" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "result_metadata_pkey" PRIMARY KEY("batch_id","line")
);
--> statement-breakpoint
ALTER TABLE "handler_runs" ADD COLUMN "line" integer;--> statement-breakpoint
ALTER TABLE "handler_runs" ADD COLUMN "annotation_seq" bigint;--> statement-breakpoint
ALTER TABLE "handler_runs" ADD COLUMN "annotation" jsonb;--> statement-breakpoint
CREATE INDEX "result_metadata_label_studio_idx" ON "result_metadata" USING btree (("metadata" -> 'labelStudio' -> 'annotationId')) WHERE "result_metadata"."metadata" ? 'labelStudio';--> statement-breakpoint
CREATE UNIQUE INDEX "handler_runs_batch_event_idx" ON "handler_runs" USING btree ("batch_id","handler") WHERE annotation_seq is null;--> statement-breakpoint
CREATE UNIQUE INDEX "handler_runs_annotation_idx" ON "handler_runs" USING btree ("batch_id","handler","annotation_seq") WHERE annotation_seq is not null;--> statement-breakpoint
-- The old index goes only once its partial replacement exists, so that finalization never lacks one.
DROP INDEX "handler_runs_batch_handler_idx";--> statement-breakpoint
CREATE INDEX "handler_runs_result_idx" ON "handler_runs" USING btree ("batch_id","line","handler") WHERE annotation_seq is not null;--> statement-breakpoint
CREATE INDEX "requests_batch_custom_id_idx" ON "requests" USING btree ("batch_id","custom_id");