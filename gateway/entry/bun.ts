import { runGateway } from './run-gateway.ts';
import { serveBun } from './serve-bun.ts';

await runGateway('bun', (gateway, config) => {
  const server = serveBun(gateway, { port: config.PORT, hostname: config.host, maxFileBytes: config.MAX_FILE_BYTES });
  return { url: `http://${config.host}:${server.port}`, close: () => server.stop(true) };
});
