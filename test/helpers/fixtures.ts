import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The sample batch files the tests use (copies of the project's shared fixtures, kept in the repository so that a clean clone tests alone). */
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** A fixture's bytes. */
export const fixture = (name: string) => readFileSync(`${FIXTURES}${name}`);
