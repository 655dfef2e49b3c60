import { customType, timestamp } from 'drizzle-orm/pg-core';

/** Raw bytes (`bytea`), read back as a Uint8Array on both drivers. */
export const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
});

/** A timestamp with time zone, as a Date. */
export const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
