-- OpenAI gives error files the purpose batch_output too (its SDKs reject batch_error); which
-- result file is the error file, the batch's error_file_id says.
UPDATE "files" SET "purpose" = 'batch_output' WHERE "purpose" = 'batch_error';
