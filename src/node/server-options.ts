// Options of `opencmq server`, shared by the CLI (which parses them) and node/server.ts (which
// runs them).

import { CONTROLLER_LIMITS } from '../controller/model';
import type { LogLevel, LogSink } from '../protocol/log';
import { DataDirInUseError, DataDirUnusableError } from '../storage/data-dir-errors';

/** `--compact-below PCT`: the range `opencmq server` and `opencmq wal verify` both take. */
export const COMPACT_BELOW_PERCENT = { min: 0, max: 90 } as const;

export interface Credential {
  secretId: string;
  secretKey: string;
}

export interface ServerOptions {
  /** Directory for the log, snapshots and node metadata; locked while serving. Its last component is created if missing. */
  dataDir: string;
  /** Listen address. Without credentials only loopback addresses are allowed unless insecureNoAuth. */
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Credentials given directly (e.g. from OPENCMQ_SECRET_ID / OPENCMQ_SECRET_KEY). */
  credentials: Credential[];
  /** A keys file: one "SECRET_ID SECRET_KEY" pair per line; '#' starts a comment. */
  keysFile?: string;
  /** Allow listening on a non-loopback address with no credentials (signatures not checked). */
  insecureNoAuth: boolean;
  /** Require SecretId to start with AKID (4000/10450), as the real service does. Default false. */
  requireAkidPrefix?: boolean;
  /** fdatasync before acknowledging (default true). Off only for benchmarks against peers that do not. */
  fsync?: boolean;
  /** WAL segment size in bytes (default 64 MiB). Small values are for tests. */
  segmentBytes?: number;
  /** Take a snapshot (and release log segments) every this many applied entries (default 100,000). */
  snapshotEveryEntries?: number;
  /** Compact a closed log segment once its live message bytes fall below this percentage of its size (default 50; 0: never). */
  compactBelowPercent?: number;
  /** How long an http subscriber may take to answer a push (default 15 s). */
  pushTimeoutMs?: number;
  /** A client request must arrive (first byte to end of body) within this (default LIMITS.httpRequestTimeoutMsDefault). */
  requestTimeoutMs?: number;
  /** An idle keep-alive client connection is closed after this (default LIMITS.httpKeepAliveTimeoutMsDefault). */
  keepAliveTimeoutMs?: number;
  /** Open client connections per client address (default LIMITS.httpConnectionsPerClientDefault). */
  maxConnectionsPerClient?: number;
  /** ListSubscriptionByTopic on a missing topic answers 0 with an empty list (the Java SDK's TopicTest expects it). */
  compatEmptySubscriptionList?: boolean;
  /** Serve the client API over HTTPS instead of HTTP. */
  tls?: ApiTlsFiles;
  /**
   * Port of the admin listener (GET /healthz, /readyz, /metrics). Absent or 0: no admin listener,
   * and no metrics are collected. The CLI's default is ADMIN_PORT_OFFSET above --port.
   */
  adminPort?: number;
  /** Listen address of the admin listener (default: `host`). */
  adminHost?: string;
  /**
   * Port of the SQS listener: the Amazon SQS API (its JSON and query protocols) on the same
   * queues, credentials and rules as the CMQ API. Absent or 0: no SQS listener. The CLI's default
   * is DEFAULT_SQS_PORT for a one-node server, none for a member of a set.
   */
  sqsPort?: number;
  /** Listen address of the SQS listener (default: `host`). */
  sqsHost?: string;
  /** At most this many queues get their own `queue` label in /metrics (default METRICS_DEFAULTS.maxQueues). */
  metricsMaxQueues?: number;
  /** Member of a replicated set: peers and the shared secret. Absent: a one-node set. */
  cluster?: ClusterOptions;
  /**
   * The set this node belongs to (`--set`, default 1) in a cluster with a controller; its queue
   * group is setId - 1, so set 1 runs group 0, the data directory's top level, as before.
   */
  setId?: number;
  /** The cluster controller (`--controller-peer`): absent, the node runs its set alone, as before. */
  controller?: ControllerPeers;
  /**
   * Where start-up and operational messages go: a Logger, or a function taking plain text lines.
   * Default: a pino logger on stderr shaped by logFormat and logLevel.
   */
  log?: LogSink;
  /** Format of the default logger: auto (pretty on a terminal, else JSON lines), json or pretty. */
  logFormat?: LogFormat;
  /** Lowest level the default logger writes (default info). */
  logLevel?: LogLevel;
}

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface ClusterOptions {
  /** This node's id in the set (e.g. "n1"). */
  nodeId: string;
  /** Where this node listens for its peers. */
  raftHost: string;
  raftPort: number;
  /** The other members' peer addresses, by node id. */
  peers: Record<string, { host: string; port: number }>;
  /**
   * Shared by the set's members; a connection that cannot prove it is refused. Required unless
   * `tls` is set; with TLS, optional (if set, it must match too).
   */
  secret?: string;
  /** Peer links over mutual TLS with certificates from the cluster's own CA. */
  tls?: PeerTlsFiles;
  /**
   * A new member joining an existing set: it starts with no configuration and waits until a
   * member adds it (`opencmq cluster add-node`). Without it, the set's voters are this node and
   * its peers (how a new set is started).
   */
  join?: boolean;
  /** Raft's heartbeat interval and election timeout in ms (default RAFT_TIMING_DEFAULTS; checked by raftTiming). */
  heartbeatMs?: number;
  electionTimeoutMs?: number;
}

/** At most this many controller voters (`--controller-peer`): the controller's own limit on a group's members. */
export const CONTROLLER_VOTERS_MAX = CONTROLLER_LIMITS.membersMax;

/** The controller's voters and, on a voter, the other nodes that call it. */
export interface ControllerPeers {
  /** Every voter of the controller group by node id, this node included when it is one. */
  voters: Record<string, { host: string; port: number }>;
  /**
   * On a voter: nodes outside the voters that call the controller (the other sets' members).
   * Optional since the controller group is open on voters (any authenticated node may call it);
   * a voter given them also dials them.
   */
  callers: Record<string, { host: string; port: number }>;
}

/** PEM files of the client API's HTTPS (`--tls-cert`, `--tls-key`, `--tls-client-ca`). */
export interface ApiTlsFiles {
  certFile: string;
  keyFile: string;
  /** Require client certificates issued by this CA. */
  clientCaFile?: string;
}

/** PEM files of the peer links' TLS (`--peer-tls-cert`, `--peer-tls-key`, `--peer-tls-ca`). */
export interface PeerTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export const DEFAULT_PORT = 9600;
/** The CLI's default admin port is --port plus this (9680 for the default 9600). */
export const ADMIN_PORT_OFFSET = 80;
/** The CLI's SQS port of a one-node server: the port SQS emulators (ElasticMQ) listen on. */
export const DEFAULT_SQS_PORT = 9324;

export const METRICS_DEFAULTS = {
  /** Queues reported under their own `queue` label in /metrics; the rest are summed under OTHER_QUEUES_LABEL. */
  maxQueues: 1000,
} as const;

/** The `queue` label value that aggregates the queues beyond the cap. */
export const OTHER_QUEUES_LABEL = '_other';
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_DATA_DIR = './opencmq-data';

export interface RunningServer {
  /** e.g. http://127.0.0.1:9600 (https:// with TLS) */
  url: string;
  port: number;
  /** e.g. http://127.0.0.1:9680, when the admin listener is on. */
  adminUrl?: string;
  /** e.g. http://127.0.0.1:9324, when the SQS listener is on (the endpoint SQS clients are given). */
  sqsUrl?: string;
  close(): Promise<void>;
}

/**
 * Exit codes of `opencmq server` for start-up failures an operator or a supervisor should tell
 * apart (sysexits.h). Anything else that stops start-up exits 1.
 */
export const SERVER_EXIT = {
  /** EX_TEMPFAIL: another live process holds the data directory; starting again after it stops works. */
  dataDirInUse: 75,
  /** EX_CONFIG: --data-dir cannot be a data directory (not a directory, read-only, missing parent, /proc...). */
  dataDirUnusable: 78,
} as const;

/** The distinct exit code for a start-up failure, or undefined for an ordinary error (1). */
export function serverStartExitCode(err: unknown): number | undefined {
  if (err instanceof DataDirInUseError) return SERVER_EXIT.dataDirInUse;
  if (err instanceof DataDirUnusableError) return SERVER_EXIT.dataDirUnusable;
  return undefined;
}

export { RAFT_TIMING_DEFAULTS, raftTiming } from './raft-timing';
