// A 3-node set of real server processes on loopback, for integration tests.

import net from 'node:net';

import { makeDataDir, spawnServer, type ServerProcess } from './server-process';

const SECRET = 'cluster-test-secret-0123456789';

export interface TestSet {
  ids: string[];
  servers: Map<string, ServerProcess>;
  url: (id: string) => string;
  /** The newest leader any member has logged ("sees leader X in term T"). */
  leader: () => string | undefined;
  close: () => Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface TestSetOptions {
  ids?: string[];
  /** Peer ports chosen in advance (e.g. to put proxies in front of them). */
  raftPorts?: Record<string, number>;
  /** The address `from` uses to reach `to` (default: `to`'s own peer port). */
  peerAddress?: (from: string, to: string) => { host: string; port: number };
}

export async function freePorts(ids: string[]): Promise<Record<string, number>> {
  return Object.fromEntries(await Promise.all(ids.map(async (id) => [id, await freePort()] as const)));
}

export async function startTestSet(opts: TestSetOptions = {}): Promise<TestSet> {
  const ids = opts.ids ?? ['n1', 'n2', 'n3'];
  const raftPorts = opts.raftPorts ?? (await freePorts(ids));
  const addr = opts.peerAddress ?? ((_from: string, to: string) => ({ host: '127.0.0.1', port: raftPorts[to]! }));
  const dirs = await Promise.all(ids.map(() => makeDataDir('opencmq-cluster-')));
  const servers = new Map<string, ServerProcess>();
  const close = async (): Promise<void> => {
    for (const s of servers.values()) await s.stop().catch(() => undefined);
    for (const d of dirs) await d.cleanup();
  };
  try {
    await Promise.all(
      ids.map(async (id, i) => {
        const peers = ids.filter((p) => p !== id).flatMap((p) => {
          const a = addr(id, p);
          return ['--peer', `${p}=${a.host}:${a.port}`];
        });
        const args = ['--node-id', id, '--raft-port', String(raftPorts[id]), '--cluster-secret', SECRET, ...peers];
        servers.set(id, await spawnServer(dirs[i]!.dir, args));
      }),
    );
  } catch (err) {
    await close();
    throw err;
  }
  return {
    ids,
    servers,
    url: (id) => servers.get(id)!.url,
    leader: () => {
      let best: { term: number; leader: string } | undefined;
      for (const s of servers.values()) {
        for (const m of s.output().matchAll(/sees leader (\S+) in term (\d+)/g)) {
          const term = Number(m[2]);
          if (m[1] !== '(none)' && (!best || term > best.term)) best = { term, leader: m[1]! };
        }
      }
      return best?.leader;
    },
    close,
  };
}
