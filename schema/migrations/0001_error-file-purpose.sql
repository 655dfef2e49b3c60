-- Changes nothing (kept so that the journal's order stays as released). An earlier draft
-- rewrote error files' purpose batch_error to batch_output; a gateway of the previous release
-- still running during a rolling upgrade (or after a rollback) picks a download's lines by
-- purpose, and would have served those error files with the output lines. Error files keep
-- batch_error as stored; the API shows them as batch_output (schema/sql/file-row.ts).
SELECT 1;
