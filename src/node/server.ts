// `opencmq server`: open the node's data, put the CMQ HTTP API in front of it, and listen.
// Without credentials the server runs open, which is only allowed on loopback unless the
// operator says --insecure-no-auth.

import { SQS_ACTIONS } from '../api/sqs/actions';
import type * as http from 'node:http';
import type * as https from 'node:https';
import type { AddressInfo } from 'node:net';

import type { AuthConfig } from '../api/auth';
import { createApiContext, createApiServer, type ApiOptions } from '../api/http-server';
import { createSqsServer } from '../api/sqs/server';
import { verifySigV4 } from '../api/sqs/sigv4';
import { acquireDataDir, type DataDirLock } from '../storage/data-dir';
import { PeerTransport } from '../transport';
import { forwarder, serveForwarded } from './forwarding';
import { raftTiming } from './raft-timing';
import { nodeRuntime } from '../runtime/node-runtime';
import type { QueueService } from '../service/queue-service';
import { NodeHost, type HostedGroup } from './host';
import { CONTROLLER_GROUP } from '../protocol/groups';
import type { SetReporter, MemberAddresses } from './set-reporter';
import type { QueueMover } from './queue-move';
import type { SetDirectory } from './remote-sets';
import { wireClusterAccess, wireSetService } from './cluster-wiring';
import { oneSetOnly } from './shards';
import { isLoopback, loadCredentials } from './credentials';
import { SINGLE_NODE_ID, type QueueNode } from './queue-node';
import { createLogger } from './logger';
import { toLogger, type Logger } from '../protocol/log';
import { loadApiTls, loadPeerTls } from './tls-files';
import { createAdminServer } from './admin-server';
import { NodeMetrics } from './metrics';
import type { ControllerPeers, RunningServer, ServerOptions } from './server-options';


/**
 * The controller group's peers on this node: on a voter the other voters and any callers it was
 * given (no longer needed: the group is open on voters), elsewhere the voters.
 */
function controllerPeersOf(ctl: ControllerPeers, selfId: string): Record<string, { host: string; port: number }> {
  const voter = ctl.voters[selfId] !== undefined;
  return Object.fromEntries(Object.entries({ ...(voter ? ctl.callers : {}), ...ctl.voters }).filter(([id]) => id !== selfId));
}

/** The controller group as a voter hosts it. */
function controllerGroup(ctl: ControllerPeers, selfId: string): HostedGroup {
  return { group: CONTROLLER_GROUP, kind: 'controller', voters: Object.keys(ctl.voters).sort(), staticPeers: controllerPeersOf(ctl, selfId) };
}

export interface StartedServer extends RunningServer {
  node: QueueNode;
  /** Other sets' services (calls go to their leaders), when the node runs with a controller. */
  sets?: SetDirectory;
}

export async function startServer(opts: ServerOptions): Promise<StartedServer> {
  const logger = serverLogger(opts);
  const credentials = await loadCredentials(opts.credentials, opts.keysFile);
  let auth: AuthConfig;
  if (credentials.length === 0) {
    // Every listener that takes client requests: the SQS one serves the same queues.
    const exposed = [opts.host, ...(opts.sqsPort ? [opts.sqsHost ?? opts.host] : [])].find((h) => !isLoopback(h));
    if (exposed !== undefined && !opts.insecureNoAuth) {
      throw new Error(
        `no credentials are configured, so the server would accept any request: refusing to listen on ${exposed}. ` +
          'Set OPENCMQ_SECRET_ID/OPENCMQ_SECRET_KEY or --keys-file, listen on 127.0.0.1, or pass --insecure-no-auth.',
      );
    }
    auth = { mode: 'open' };
  } else {
    auth = { mode: 'signature', credentials, requireAkidPrefix: opts.requireAkidPrefix ?? false };
  }

  const cluster = opts.cluster;
  // Before anything touches the directory (log, snapshots) or the peer port is taken: one owner.
  const dataDir = await acquireDataDir(opts.dataDir, { log: logger.child('storage'), ...(cluster ? { nodeId: cluster.nodeId } : {}) });
  const opened: Opened = {};
  try {
    return await serve(opts, logger, auth, credentials.length, dataDir, opened);
  } catch (err) {
    // A failed start gives the directory back, so an embedding process may try again.
    opened.admin?.close();
    opened.sqs?.close();
    await opened.host?.close().catch(() => {});
    await opened.transport?.close().catch(() => {});
    dataDir.release();
    throw err;
  }
}

/**
 * The server's logger: the caller's (a Logger, or a function taking lines, as embedders and tests
 * pass), else pino on stderr as --log-format and --log-level say, every line naming this node.
 */
function serverLogger(opts: ServerOptions): Logger {
  if (opts.log !== undefined) return toLogger(opts.log, () => undefined);
  return createLogger({
    nodeId: opts.cluster?.nodeId ?? SINGLE_NODE_ID,
    ...(opts.logFormat !== undefined ? { format: opts.logFormat } : {}),
    ...(opts.logLevel !== undefined ? { level: opts.logLevel } : {}),
  });
}

/** What a start that fails half-way has to close. */
interface Opened {
  transport?: PeerTransport;
  host?: NodeHost;
  admin?: http.Server;
  sqs?: http.Server;
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

async function serve(
  opts: ServerOptions,
  logger: Logger,
  auth: AuthConfig,
  credentialCount: number,
  dataDir: DataDirLock,
  opened: Opened,
): Promise<StartedServer> {
  const log = logger.child('server');
  let transport: PeerTransport | undefined;
  let peerPort: number | undefined;
  const cluster = opts.cluster;
  const timing = raftTiming(cluster?.heartbeatMs, cluster?.electionTimeoutMs);
  if (typeof timing === 'string') throw new Error(timing);
  // A node hosts its set's queue group (group 0 for set 1, the embedded single-voter group
  // too) and, on a controller voter, a replica of the controller group.
  const setId = opts.setId ?? 1;
  const setGroup = setId - 1;
  if (cluster) {
    transport = new PeerTransport({
      nodeId: cluster.nodeId,
      listen: { host: cluster.raftHost, port: cluster.raftPort },
      peers: cluster.peers,
      ...(cluster.secret !== undefined ? { clusterSecret: cluster.secret } : {}),
      ...(cluster.tls ? { tls: await loadPeerTls(cluster.tls) } : {}),
      log: logger,
      // On a voter the controller serves every authenticated node of the cluster (each set's
      // leader registers and reports to it), so it need not be told of them. With a controller,
      // the set group serves other sets' nodes their service calls (rpc.ts says which services
      // a non-member may use). Only requests: each group's Raft still runs among its members.
      ...(opts.controller ? { openGroups: [setGroup, ...(opts.controller.voters[cluster.nodeId] !== undefined ? [CONTROLLER_GROUP] : [])] } : {}),
    });
    opened.transport = transport;
    // Before the first connection: a node links with the voters (a voter's replica keeps these
    // peers from then on); a voter also dials the callers it was given (--controller-caller).
    const ctlPeers = opts.controller ? controllerPeersOf(opts.controller, cluster.nodeId) : undefined;
    if (ctlPeers) transport.group(CONTROLLER_GROUP).setPeers(ctlPeers);
    const { port } = await transport.start();
    peerPort = port;
    dataDir.describe({ peerAddress: `${cluster.raftHost}:${port}` });
    log.info(`peer transport for ${cluster.nodeId} listening on ${cluster.raftHost}:${port}${cluster.tls ? ' (TLS)' : ''}; peers ${Object.keys(cluster.peers).join(', ')}`);
  }
  // Metrics exist only with the admin listener: without it nothing is counted or observed.
  const metrics = opts.adminPort ? new NodeMetrics(opts.metricsMaxQueues !== undefined ? { maxQueues: opts.metricsMaxQueues } : {}) : undefined;
  // Forwarding and snapshot transfer run on the set group's peer view.
  const ctl = opts.controller && cluster ? opts.controller : undefined;
  const controllerVoter = ctl !== undefined && cluster !== undefined && ctl.voters[cluster.nodeId] !== undefined;
  const host = await NodeHost.open(
    {
      dataDir: opts.dataDir,
      ...(cluster ? { nodeId: cluster.nodeId } : {}),
      ...(transport ? { network: transport } : {}),
      replica: {
        ...(metrics ? { walObserver: metrics.walObserver } : {}),
        fsync: opts.fsync ?? true,
        timing,
        log: logger,
        ...(opts.segmentBytes !== undefined ? { segmentBytes: opts.segmentBytes } : {}),
        ...(opts.snapshotEveryEntries !== undefined ? { snapshotEveryEntries: opts.snapshotEveryEntries } : {}),
        ...(opts.pushTimeoutMs !== undefined ? { pushTimeoutMs: opts.pushTimeoutMs } : {}),
        ...(opts.compactBelowPercent !== undefined ? { compaction: { liveRatio: opts.compactBelowPercent / 100 } } : {}),
        onFatal: (err) => {
          log.error(`opencmq: stopping: ${err.message}`);
          // Durability is unknown after a failed fsync; exit so a restart recovers from disk.
          process.exit(70);
        },
      },
    },
    [
      cluster
        ? { group: setGroup, voters: cluster.join ? [] : [cluster.nodeId, ...Object.keys(cluster.peers)].sort(), staticPeers: cluster.peers }
        : { group: 0, voters: [SINGLE_NODE_ID] },
      ...(ctl && cluster && controllerVoter ? [controllerGroup(ctl, cluster.nodeId)] : []),
    ],
  );
  opened.host = host;
  const node = host.group(setGroup);
  const rpc = host.rpc(setGroup);
  let requestsServed = 0;
  const countRequest = (): void => {
    requestsServed++;
  };
  metrics?.attach(node);
  const metricsDone = metrics?.requestDone;
  // With a controller, the set's leader reports its request rate: every request served here counts.
  const onRequestDone: ApiOptions['onRequestDone'] = ctl
    ? (action, code, seconds) => {
        countRequest();
        metricsDone?.(action, code, seconds);
      }
    : metricsDone;
  const compat = opts.compatEmptySubscriptionList ? { emptySubscriptionListForMissingTopic: true } : undefined;
  let forward: ApiOptions['forward'];
  let service: QueueService = node;
  if (cluster && transport && rpc) {
    const leaderId = (): string | undefined => node.leaderId();
    // Requests this node takes run here, their service calls where the leader is.
    const { requests, routed } = wireSetService({ node, rpc, selfId: cluster.nodeId, runtime: nodeRuntime, timing, log: logger });
    service = routed;
    metrics?.attachPeerPaths(() => ({ ...requests.counters, ...routed.counters }));
    const links = transport;
    metrics?.attachPeerLinks(() => links.stats());
    // Followers of the previous version forward whole requests: answered here when this node leads.
    const ctx = createApiContext({
      service: node,
      auth,
      log: logger,
      // Forwards carry the follower's requestId; this prefix only names those from a follower of
      // a release that sent none.
      requestIdPrefix: `${cluster.nodeId}-fwd-`,
      ...(compat ? { compat } : {}),
      ...(onRequestDone ? { onRequestDone } : {}),
      ...(metrics ? { observer: metrics.requestObserver } : {}),
    });
    serveForwarded(rpc, ctx);
    forward = forwarder(rpc.network, cluster.nodeId, leaderId, requests, metrics?.requestForwarded);
  }
  // Filled in once the listeners are up: what this member tells its set's leader about itself.
  const addresses: { peer?: string; api?: string; sqs?: string } = {};
  let reporter: SetReporter | undefined;
  let mover: QueueMover | undefined;
  let sets: SetDirectory | undefined;
  if (ctl && cluster && transport && rpc) {
    const wired = wireClusterAccess({
      node,
      rpc,
      own: service,
      views: transport,
      ...(controllerVoter ? { localController: host.controller() } : {}),
      selfId: cluster.nodeId,
      setId,
      setGroup,
      controllerVoters: ctl.voters,
      runtime: nodeRuntime,
      timing,
      log: logger,
      addresses: (): MemberAddresses => ({
        peerAddress: addresses.peer ?? '',
        apiAddress: addresses.api ?? '',
        ...(addresses.sqs !== undefined ? { sqsAddress: addresses.sqs } : {}),
      }),
      requestsServed: () => requestsServed,
    });
    sets = wired.sets;
    reporter = wired.reporter;
    mover = wired.mover;
    service = wired.service;
  } else {
    // One set and no controller to place shards: a queue has one shard.
    service = oneSetOnly(service);
  }
  const apiTls = opts.tls ? await loadApiTls(opts.tls) : undefined;
  const http = createApiServer({
    service,
    auth,
    log: logger,
    ...(forward ? { forward } : {}),
    ...(compat ? { compat } : {}),
    ...(onRequestDone ? { onRequestDone } : {}),
    ...(metrics ? { observer: metrics.requestObserver } : {}),
    ...(apiTls ? { tls: apiTls } : {}),
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
    ...(opts.keepAliveTimeoutMs !== undefined ? { keepAliveTimeoutMs: opts.keepAliveTimeoutMs } : {}),
    ...(opts.maxConnectionsPerClient !== undefined ? { maxConnectionsPerClient: opts.maxConnectionsPerClient } : {}),
  });
  // The SQS API on the same service (on a follower, the routed one: any member serves any queue).
  const listenerLimits = {
    ...(apiTls ? { tls: apiTls } : {}),
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
    ...(opts.keepAliveTimeoutMs !== undefined ? { keepAliveTimeoutMs: opts.keepAliveTimeoutMs } : {}),
    ...(opts.maxConnectionsPerClient !== undefined ? { maxConnectionsPerClient: opts.maxConnectionsPerClient } : {}),
  };
  const sqs = opts.sqsPort
    ? createSqsServer({
        service,
        auth,
        actions: SQS_ACTIONS,
        verifySigV4,
        log: logger,
        ...(onRequestDone ? { onRequestDone } : {}),
        ...(metrics ? { observer: metrics.requestObserver } : {}),
        ...listenerLimits,
      })
    : undefined;
  // Before the client API: a busy admin port fails the start before the node is announced.
  let admin: http.Server | undefined;
  let adminUrl: string | undefined;
  if (metrics && opts.adminPort) {
    const adminHost = opts.adminHost ?? opts.host;
    admin = createAdminServer({ observe: () => node.observe(), metrics, log: logger.child('admin') });
    opened.admin = admin;
    await listen(admin, opts.adminPort, adminHost);
    adminUrl = `http://${urlHost(adminHost)}:${(admin.address() as AddressInfo).port}`;
    log.info(`admin endpoints /healthz, /readyz, /metrics on ${adminUrl}`);
  }
  let sqsUrl: string | undefined;
  if (sqs && opts.sqsPort) {
    const sqsHost = opts.sqsHost ?? opts.host;
    opened.sqs = sqs;
    await listen(sqs, opts.sqsPort, sqsHost).catch((err: unknown) => {
      throw new Error(`SQS listener on ${sqsHost}:${opts.sqsPort}: ${err instanceof Error ? err.message : String(err)} (--sqs-port 0 turns it off)`);
    });
    sqsUrl = `${apiTls ? 'https' : 'http'}://${urlHost(sqsHost)}:${(sqs.address() as AddressInfo).port}`;
  }
  await listen(http, opts.port, opts.host);
  const port = (http.address() as AddressInfo).port;
  const url = `${apiTls ? 'https' : 'http'}://${urlHost(opts.host)}:${port}`;
  if (reporter && cluster && transport) {
    addresses.peer = `${cluster.raftHost}:${peerPort ?? cluster.raftPort}`;
    addresses.api = url;
    if (sqsUrl !== undefined) addresses.sqs = sqsUrl;
    reporter.start();
    mover?.start();
  }
  dataDir.describe({ apiUrl: url });
  log.info(`opencmq listening on ${url} (data in ${opts.dataDir}, fsync ${opts.fsync === false ? 'OFF' : 'on'})`);
  // After the line above, which launchers and tests read as "the server is up, at this URL".
  if (sqsUrl !== undefined) log.info(`SQS API (Amazon SQS protocols) served on ${sqsUrl}`);
  if (auth.mode === 'open') {
    if (isLoopback(opts.host)) log.info('authentication is OFF: no credentials configured, serving loopback only');
    else log.warn(`authentication is OFF on ${opts.host} (--insecure-no-auth): anyone who can reach it can use it`);
  } else {
    log.info(`authentication is on (${credentialCount} credential${credentialCount === 1 ? '' : 's'})`);
  }

  // SIGHUP re-reads the API certificate files (e.g. after renewal); connections open keep theirs.
  const tlsFiles = opts.tls;
  const reloadTls = (): void => {
    if (!tlsFiles) return;
    loadApiTls(tlsFiles).then(
      (options) => {
        (http as unknown as https.Server).setSecureContext(options);
        if (sqs) (sqs as unknown as https.Server).setSecureContext(options);
        log.info('reloaded the client API TLS certificate');
      },
      (err: unknown) => log.error(`TLS certificate not reloaded, keeping the current one: ${err instanceof Error ? err.message : String(err)}`),
    );
  };
  if (tlsFiles) process.on('SIGHUP', reloadTls);

  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    ...(adminUrl !== undefined ? { adminUrl } : {}),
    ...(sqsUrl !== undefined ? { sqsUrl } : {}),
    node,
    ...(sets ? { sets } : {}),
    close() {
      closed ??= (async () => {
        process.off('SIGHUP', reloadTls);
        reporter?.stop();
        mover?.stop();
        // Stop accepting, answer parked long polls, finish writes in flight, then drop sockets.
        const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()));
        const sqsClosed = sqs ? new Promise<void>((resolve) => sqs.close(() => resolve())) : Promise.resolve();
        await host.close();
        await transport?.close();
        // The admin listener answered until the node closed (/readyz: shuttingDown meanwhile).
        const adminClosed = admin ? new Promise<void>((resolve) => admin.close(() => resolve())) : Promise.resolve();
        admin?.closeIdleConnections();
        http.closeIdleConnections();
        sqs?.closeIdleConnections();
        const grace = setTimeout(() => {
          http.closeAllConnections();
          sqs?.closeAllConnections();
        }, 2000);
        await httpClosed;
        await sqsClosed;
        clearTimeout(grace);
        admin?.closeAllConnections();
        await adminClosed;
        dataDir.release();
      })();
      return closed;
    },
  };
}
