// Every size, count and range limit in one place. Going over one gives a clear CMQ error, never
// unbounded growth. Ranges follow the CMQ API (docs/api.md lists them).

/** A deduplication id a client gives (CMQ `dedupId`, SQS MessageDeduplicationId), in characters. */
const DEDUP_ID_CHARS_MAX = 128;
/** A FIFO message's group id (SQS MessageGroupId), in characters. */
const GROUP_ID_CHARS_MAX = 128;

export const LIMITS = {
  /**
   * Largest HTTP request body or query string accepted (4000/10420 above it). The spec says
   * "1 MB" (§1.2) but also allows 1 MiB message bodies (§2.1), which cannot fit a 1 MiB request
   * once percent-encoded. So the raw request may hold a 1 MiB body even fully %-escaped, and the
   * 1 MB rule applies to decoded message bytes (batchBodyBytesMax).
   */
  requestBytesMax: 3 * 1024 * 1024 + 64 * 1024,
  /** Total decoded body bytes in one (batch) send or publish: 4470/10300 above it. */
  batchBodyBytesMax: 1024 * 1024,
  /** Items in one batch send/receive/delete/publish. */
  batchItemsMax: 16,
  /** Queues per server (per account in CMQ). */
  queueCountMax: 1000,
  /** Shards of one queue (the `shards` extension parameter; each shard on its own set). */
  queueShardsMax: 64,
  topicCountMax: 1000,
  subscriptionsPerTopicMax: 100,
  /** Spec §3.2–§3.4: filterTag/msgTag sets of at most 5 tags of at most 16 characters. */
  filterTagsMax: 5,
  msgTagsMax: 5,
  tagCharsMax: 16,
  /** Spec §3.4: at most 5 bindingKeys; a routing or binding key has ≤ 64 bytes and ≤ 15 dots. */
  bindingKeysMax: 5,
  routingKeyBytesMax: 64,
  routingKeyDotsMax: 15,
  /** Failed authentications logged per reason per minute; the rest are counted in the next line. */
  authFailureLogsPerMinute: 10,
  /** HTTP endpoint of a subscription (spec §3.2). */
  endpointCharsMax: 500,
  /**
   * HTTP pushes pending per subscription (an endpoint that is down keeps messages for up to a
   * day). A publish beyond it drops the delivery to that subscription and counts it.
   */
  pendingPushesPerSubscriptionMax: 100_000,
  /** Queue/topic name: starts with a letter, then letters, digits, '-' or '_', 64 chars at most. */
  nameMaxChars: 64,
  pollingWaitSecondsMax: 30,
  delaySecondsMax: 6_048_000,
  listLimitDefault: 20,
  listLimitMax: 50,
  /**
   * Route changes under way (moves, shard growths) one `OpencmqClusterStatus` answer lists, oldest
   * first; it counts the rest. Bounded so a status answer stays small whatever an operator starts.
   */
  statusRouteChangesMax: 100,
  /**
   * Send deduplication (broker/dedup.ts): an id is remembered this long from its first send, and
   * at most this many ids in all (the oldest are forgotten first beyond it); an id a client gives
   * has at most dedupIdCharsMax characters.
   */
  dedupWindowMs: 5 * 60_000,
  dedupIdsMax: 500_000,
  dedupIdCharsMax: DEDUP_ID_CHARS_MAX,
  /**
   * The deduplication key the broker stores (SendBodyOptions.dedupId, opaque to it): a client's id
   * with what the API adds to namespace it, at most a group id and a few characters (the SQS API:
   * `g:<group> <id>` under DeduplicationScope messageGroup; the CMQ API: `<id>/<n>` in a batch).
   */
  dedupKeyCharsMax: DEDUP_ID_CHARS_MAX + GROUP_ID_CHARS_MAX + 8,
  /**
   * Receive attempts (broker/receive-attempts.ts, SQS ReceiveRequestAttemptId on FIFO queues): a
   * receive is remembered under its attempt id this long, and at most this many per queue (the
   * oldest are forgotten first beyond it: a retry of a forgotten attempt is a fresh receive).
   */
  receiveAttemptWindowMs: 5 * 60_000,
  receiveAttemptsPerQueueMax: 1_000,
  /** An attempt id's characters (SQS: 128). */
  receiveAttemptIdCharsMax: 128,
  /** A FIFO message's group id (SQS MessageGroupId): 1 to this many characters. */
  groupIdCharsMax: GROUP_ID_CHARS_MAX,
  /** Tags per queue (SQS: 50), and a tag key's and value's characters. */
  queueTagsMax: 50,
  tagKeyCharsMax: 128,
  tagValueCharsMax: 256,
  /** Source queues that may name one dead-letter queue. */
  deadLetterSourcesMax: 6,
  receiptHandleCharsMax: 256,
  /** Long-poll receives parked at once on one node; more get 6000 rather than unbounded memory. */
  parkedReceivesMax: 10_000,
  /** Open client (HTTP) connections per node; a connection beyond it is closed at once. */
  httpConnectionsMax: 10_000,
  /** Default open connections per client address (--max-connections-per-client); more are closed at once. */
  httpConnectionsPerClientDefault: 256,
  /**
   * Default time a request may take to arrive, from its first byte to the end of its body
   * (--request-timeout). Producing the answer (a 30 s long poll) is not counted.
   */
  httpRequestTimeoutMsDefault: 10_000,
  /** Default time an idle keep-alive connection is kept (--keep-alive-timeout); above common client pools' checks. */
  httpKeepAliveTimeoutMsDefault: 65_000,
  /** Client requests in flight (proposed, not yet applied) on one node. */
  inflightProposalsMax: 50_000,

  /**
   * Dead-letter redrive (broker/redrive.ts): messages one moveMessages entry moves at most; a
   * move task's maxPerSecond range (SQS: 1-500); move tasks kept per source queue, most recent
   * first (older finished ones are forgotten); messages one redrive action moves at most.
   */
  moveBatchMax: 1000,
  moveMaxPerSecondMax: 500,
  moveTasksPerQueueMax: 10,
  redriveMessagesMax: 1_000_000,
} as const;

/** Queue attribute ranges and defaults: [min, max, default]. */
export const QUEUE_ATTR_RANGES = {
  maxMsgHeapNum: { min: 1_000_000, max: 1_000_000_000, def: 100_000_000 },
  pollingWaitSeconds: { min: 0, max: 30, def: 0 },
  visibilityTimeout: { min: 1, max: 43_200, def: 30 },
  maxMsgSize: { min: 1024, max: 1_048_576, def: 65_536 },
  msgRetentionSeconds: { min: 60, max: 1_296_000, def: 345_600 },
  /** max is further bounded by msgRetentionSeconds. */
  rewindSeconds: { min: 0, max: 1_296_000, def: 0 },
} as const;

/** Topic maxMsgSize (spec §3.1 [rec]: 1024–1048576). */
export const TOPIC_ATTR_RANGES = {
  maxMsgSize: { min: 1024, max: 1_048_576, def: 65_536 },
} as const;

export const DEAD_LETTER_RANGES = {
  maxReceiveCount: { min: 1, max: 1000 },
  /** also must be < msgRetentionSeconds of the source queue */
  maxTimeToLive: { min: 300, max: 43_200 },
} as const;
