// The fault-test TCP proxy (test/helpers/tcp-proxy.ts): byte-exact forwarding, blocking that loses
// bytes, one-way blocks, resets, partition/heal, delay, retargeting, and the 3-node ProxyMesh.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, describe, test } from 'node:test';

import { ProxyMesh, TcpProxy } from '../helpers/tcp-proxy';

/** A TCP server that keeps every accepted socket and what it received; optionally echoes. */
class Target {
  readonly conns: { socket: net.Socket; data: Buffer[] }[] = [];
  private constructor(
    readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(reply?: (data: Buffer) => Buffer): Promise<Target> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const t = new Target(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (socket) => {
      const conn = { socket, data: [] as Buffer[] };
      t.conns.push(conn);
      socket.on('error', () => {});
      socket.on('data', (d: Buffer) => {
        conn.data.push(d);
        if (reply !== undefined) socket.write(reply(d));
      });
    });
    return t;
  }

  text(i: number): string {
    return Buffer.concat(this.conns[i]?.data ?? []).toString();
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Client {
  socket: net.Socket;
  data: Buffer[];
  text(): string;
  closed: Promise<NodeJS.ErrnoException | undefined>;
}

async function connect(port: number): Promise<Client> {
  const socket = net.connect({ host: '127.0.0.1', port });
  const data: Buffer[] = [];
  let error: NodeJS.ErrnoException | undefined;
  socket.on('data', (d: Buffer) => data.push(d));
  socket.on('error', (err) => (error = err));
  const closed = new Promise<NodeJS.ErrnoException | undefined>((resolve) => socket.once('close', () => resolve(error)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, data, text: () => Buffer.concat(data).toString(), closed };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(reply?: (d: Buffer) => Buffer): Promise<{ target: Target; proxy: TcpProxy }> {
  const target = await Target.start(reply);
  const proxy = await TcpProxy.start({ targetPort: target.port });
  cleanups.push(() => target.close(), () => proxy.close());
  return { target, proxy };
}

describe('TcpProxy', () => {
  test('forwards bytes exactly, both ways, and counts them', async () => {
    const { target, proxy } = await setup((d) => d);
    const client = await connect(proxy.port);
    const payload = randomBytes(1 << 20);
    client.socket.write(payload);
    await waitFor('echo', () => Buffer.concat(client.data).length >= payload.length);
    assert.ok(Buffer.concat(client.data).equals(payload));
    assert.ok(Buffer.concat(target.conns[0]!.data).equals(payload));
    const s = proxy.stats();
    assert.equal(s.connectionsAccepted, 1);
    assert.equal(s.connectionsOpen, 1);
    assert.equal(s.bytesClientToServer, payload.length);
    assert.equal(s.bytesServerToClient, payload.length);
    assert.equal(s.droppedClientToServer + s.droppedServerToClient, 0);
    client.socket.destroy();
  });

  test('block() loses bytes both ways but keeps the sockets open; unblock() lets new bytes through', async () => {
    const { target, proxy } = await setup();
    const client = await connect(proxy.port);
    await waitFor('accepted', () => target.conns.length === 1);
    const server = target.conns[0]!.socket;
    proxy.block();
    client.socket.write('lost-up');
    server.write('lost-down');
    await waitFor('drops', () => proxy.stats().droppedClientToServer === 7 && proxy.stats().droppedServerToClient === 9);
    await sleep(30);
    assert.equal(target.text(0), '');
    assert.equal(client.text(), '');
    assert.equal(client.socket.destroyed, false);
    assert.equal(server.destroyed, false);

    proxy.unblock();
    client.socket.write('up');
    server.write('down');
    await waitFor('bytes after unblock', () => target.text(0) === 'up' && client.text() === 'down');
    client.socket.destroy();
  });

  test('a connection made while blocked is accepted but carries nothing', async () => {
    const { target, proxy } = await setup((d) => d);
    proxy.block();
    const client = await connect(proxy.port);
    client.socket.write('hello');
    await waitFor('drop', () => proxy.stats().droppedClientToServer === 5);
    assert.equal(proxy.stats().connectionsAccepted, 1);
    assert.equal(target.text(0), '');
    proxy.unblock();
    client.socket.write('again');
    await waitFor('echo after unblock', () => client.text() === 'again');
    client.socket.destroy();
  });

  test('blockOneWay drops one direction only', async () => {
    const { target, proxy } = await setup();
    const client = await connect(proxy.port);
    await waitFor('accepted', () => target.conns.length === 1);
    const server = target.conns[0]!.socket;

    proxy.blockOneWay('clientToServer');
    client.socket.write('up1');
    server.write('down1');
    await waitFor('down1 delivered', () => client.text() === 'down1');
    await waitFor('up1 dropped', () => proxy.stats().droppedClientToServer === 3);
    assert.equal(target.text(0), '');

    proxy.unblock();
    proxy.blockOneWay('serverToClient');
    client.socket.write('up2');
    server.write('down2');
    await waitFor('up2 delivered', () => target.text(0) === 'up2');
    await waitFor('down2 dropped', () => proxy.stats().droppedServerToClient === 5);
    assert.equal(client.text(), 'down1');
    client.socket.destroy();
  });

  test('reset() destroys every open connection; new ones still work', async () => {
    const { proxy } = await setup((d) => d);
    const a = await connect(proxy.port);
    const b = await connect(proxy.port);
    await waitFor('both open', () => proxy.stats().connectionsOpen === 2);
    proxy.reset();
    const [ea, eb] = await Promise.all([a.closed, b.closed]);
    assert.equal(ea?.code, 'ECONNRESET');
    assert.equal(eb?.code, 'ECONNRESET');
    assert.equal(proxy.stats().connectionsOpen, 0);
    assert.equal(proxy.stats().resets, 2);
    const c = await connect(proxy.port);
    c.socket.write('ok');
    await waitFor('echo', () => c.text() === 'ok');
    c.socket.destroy();
  });

  test('partition() resets open connections and blocks; heal() resets only connections that lost bytes', async () => {
    const { proxy } = await setup((d) => d);
    const before = await connect(proxy.port);
    proxy.partition();
    assert.equal((await before.closed)?.code, 'ECONNRESET');

    const lossy = await connect(proxy.port);
    const quiet = await connect(proxy.port);
    lossy.socket.write('into the void');
    await waitFor('drop', () => proxy.stats().droppedClientToServer === 13);
    proxy.heal();
    assert.equal((await lossy.closed)?.code, 'ECONNRESET');
    quiet.socket.write('fine');
    await waitFor('quiet connection survives the heal', () => quiet.text() === 'fine');
    quiet.socket.destroy();
  });

  test('a target that closes or fails while the link is blocked is not seen until the block ends', async () => {
    const { target, proxy } = await setup();
    const finned = await connect(proxy.port);
    const failed = await connect(proxy.port);
    await waitFor('accepted', () => target.conns.length === 2);
    proxy.block();
    target.conns[0]!.socket.end();
    target.conns[1]!.socket.resetAndDestroy();
    await sleep(50);
    assert.equal(finned.socket.destroyed, false, 'a FIN must not cross a partition');
    assert.equal(failed.socket.destroyed, false, 'a reset must not cross a partition');
    proxy.unblock();
    assert.equal(await finned.closed, undefined, 'the held-back FIN arrives as a clean close');
    assert.equal((await failed.closed)?.code, 'ECONNRESET');
  });

  test('setDelay delays every chunk and keeps order when the delay drops', async () => {
    const { target, proxy } = await setup();
    const client = await connect(proxy.port);
    await waitFor('accepted', () => target.conns.length === 1);
    proxy.setDelay(150);
    const t0 = Date.now();
    client.socket.write('a');
    await sleep(20);
    proxy.setDelay(0);
    client.socket.write('b');
    await waitFor('both', () => target.text(0) === 'ab');
    assert.ok(Date.now() - t0 >= 140, 'the first chunk waited its delay');
    client.socket.destroy();
  });

  test('bytes delayed in flight when a block starts are lost', async () => {
    const { target, proxy } = await setup();
    const client = await connect(proxy.port);
    await waitFor('accepted', () => target.conns.length === 1);
    proxy.setDelay(100);
    client.socket.write('abc');
    await sleep(30);
    proxy.block();
    await waitFor('in-flight bytes dropped', () => proxy.stats().droppedClientToServer === 3);
    assert.equal(target.text(0), '');
    client.socket.destroy();
  });

  test('a dead target resets the client; retarget() points new connections elsewhere', async () => {
    const { proxy } = await setup();
    const other = await Target.start((d) => Buffer.from(`other:${d.toString()}`));
    cleanups.push(() => other.close());
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));

    proxy.retarget(deadPort);
    const refused = await connect(proxy.port);
    assert.equal((await refused.closed)?.code, 'ECONNRESET');

    proxy.retarget(other.port);
    const c = await connect(proxy.port);
    c.socket.write('x');
    await waitFor('reply from new target', () => c.text() === 'other:x');
    c.socket.destroy();
  });

  test('close() stops listening and resets connections', async () => {
    const target = await Target.start((d) => d);
    cleanups.push(() => target.close());
    const proxy = await TcpProxy.start({ targetPort: target.port });
    const c = await connect(proxy.port);
    await proxy.close();
    await c.closed;
    await assert.rejects(connect(proxy.port));
  });
});

describe('ProxyMesh', () => {
  /** Three "nodes" that answer `<id>:<data>` so a test sees who it reached. */
  async function mesh(): Promise<{ m: ProxyMesh; nodes: Record<string, Target> }> {
    const nodes: Record<string, Target> = {};
    for (const id of ['a', 'b', 'c']) {
      nodes[id] = await Target.start((d) => Buffer.from(`${id}:${d.toString()}`));
      cleanups.push(() => nodes[id]!.close());
    }
    const m = await ProxyMesh.start({ a: nodes.a!.port, b: nodes.b!.port, c: nodes.c!.port });
    cleanups.push(() => m.close());
    return { m, nodes };
  }

  async function exchange(m: ProxyMesh, from: string, to: string, msg: string): Promise<boolean> {
    const c = await connect(m.addressFor(from, to).port);
    c.socket.write(msg);
    try {
      await waitFor(`${from}->${to}`, () => c.text() === `${to}:${msg}`, 150);
      return true;
    } catch {
      return false;
    } finally {
      c.socket.destroy();
    }
  }

  test('one proxy per ordered pair, each reaching its target', async () => {
    const { m } = await mesh();
    const ports = new Set<number>();
    for (const from of m.nodes) {
      for (const to of m.nodes) {
        if (from === to) continue;
        assert.equal(m.addressFor(from, to).host, '127.0.0.1');
        ports.add(m.addressFor(from, to).port);
        assert.ok(await exchange(m, from, to, 'hi'), `${from} reaches ${to}`);
      }
    }
    assert.equal(ports.size, 6);
    assert.deepEqual(Object.keys(m.peersOf('a')).sort(), ['b', 'c']);
    assert.throws(() => m.addressFor('a', 'a'));
  });

  test('isolate cuts every link of one node and leaves the others; healAll restores', async () => {
    const { m } = await mesh();
    m.isolate('a');
    assert.equal(await exchange(m, 'a', 'b', 'x'), false);
    assert.equal(await exchange(m, 'c', 'a', 'x'), false);
    assert.equal(await exchange(m, 'b', 'c', 'x'), true);
    assert.equal(await exchange(m, 'c', 'b', 'x'), true);
    m.healAll();
    assert.equal(await exchange(m, 'a', 'b', 'y'), true);
    assert.equal(await exchange(m, 'c', 'a', 'y'), true);
  });

  test('partition(groupA, groupB) cuts exactly the links between the groups', async () => {
    const { m } = await mesh();
    m.partition(['a', 'b'], ['c']);
    assert.equal(await exchange(m, 'a', 'b', 'x'), true);
    assert.equal(await exchange(m, 'b', 'a', 'x'), true);
    for (const [f, t] of [['a', 'c'], ['c', 'a'], ['b', 'c'], ['c', 'b']] as const) {
      assert.equal(await exchange(m, f, t, 'x'), false, `${f}->${t} cut`);
    }
    assert.throws(() => m.partition(['a'], ['a']));
  });

  test('oneWay(from, to) loses what from sends to to, on connections dialed by either', async () => {
    const { m, nodes } = await mesh();
    m.oneWay('a', 'b');
    // a dialed b: a's bytes are lost.
    const ab = await connect(m.addressFor('a', 'b').port);
    ab.socket.write('from-a');
    await waitFor('a->b dropped', () => m.proxy('a', 'b').stats().droppedClientToServer === 6);
    assert.equal(nodes.b!.conns.map((c) => Buffer.concat(c.data).toString()).join(''), '');
    // b dialed a: b's bytes arrive, a's reply is lost.
    const ba = await connect(m.addressFor('b', 'a').port);
    ba.socket.write('from-b');
    await waitFor('b->a delivered', () => nodes.a!.conns.some((c) => Buffer.concat(c.data).toString() === 'from-b'));
    await waitFor('reply dropped', () => m.proxy('b', 'a').stats().droppedServerToClient === 'a:from-b'.length);
    assert.equal(ba.text(), '');
    // Links not involving a -> b are untouched.
    assert.equal(await exchange(m, 'a', 'c', 'z'), true);
    m.healAll();
    await Promise.all([ab.closed, ba.closed]);
    assert.equal(await exchange(m, 'a', 'b', 'y'), true);
  });

  test('retarget(node, port) moves every link into that node', async () => {
    const { m } = await mesh();
    const moved = await Target.start((d) => Buffer.from(`b:${d.toString()}`));
    cleanups.push(() => moved.close());
    m.retarget('b', moved.port);
    assert.ok(await exchange(m, 'a', 'b', 'q'));
    assert.ok(await exchange(m, 'c', 'b', 'q'));
    assert.equal(moved.conns.length, 2);
  });
});
