import { createServer } from 'node:net';

/** The preferred port when it is free on 127.0.0.1, else any free port. */
export async function portOr(preferred: number): Promise<number> {
  return (await tryListen(preferred)) ?? (await tryListen(0)) ?? preferred;
}

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => {
      resolve(undefined);
    });
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr !== null ? addr.port : undefined;
      srv.close(() => {
        resolve(got);
      });
    });
  });
}
